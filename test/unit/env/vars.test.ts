import { describe, expect, it } from 'vitest';
import { FloxError } from '../../../src/errors.js';
import { envrcLines, expandStatic, orderVars, parseStatic } from '../../../src/env/vars.js';

describe('[vars]', () => {
  it('splits plain references from literal text', () => {
    expect(parseStatic('a ${B} $C-d')).toEqual([{ lit: 'a ' }, { ref: 'B' }, { lit: ' ' }, { ref: 'C' }, { lit: '-d' }]);
    expect(parseStatic('quotes "and" \'these\'')).toEqual([{ lit: 'quotes "and" \'these\'' }]);
  });
  it.each(['$(date)', '`date`', '${A:-x}', '$1', '$$', 'a\\b', 'cost $'])('%s needs a shell', (v) => {
    expect(parseStatic(v)).toBeUndefined();
  });
  it('orders by dependency, keeping manifest order otherwise; self references read the outer value', () => {
    expect(orderVars({ C: '${B}/c', A: 'a', B: '$A/b', P: '$P:x' })).toEqual(['A', 'B', 'C', 'P']);
  });
  it('a cycle is an error naming the variables', () => {
    expect(() => orderVars({ A: '$B', B: '${A}', C: 'c' })).toThrow(FloxError);
    expect(() => orderVars({ A: '$B', B: '${A}', C: 'c' })).toThrow(/A, B reference each other/);
  });
  it('expands statically against the environment so far, like the shell would', () => {
    const env: Record<string, string> = { HOME: '/root', PATH: '/bin' };
    expect(expandStatic({ D: '${C}!', C: '$HOME/x', PATH: '/opt/bin:$PATH', U: '$UNSET.' }, env)).toBe(true);
    expect(env).toMatchObject({ C: '/root/x', D: '/root/x!', PATH: '/opt/bin:/bin', U: '.' });
  });
  it('leaves the environment alone when any value needs a shell', () => {
    const env = { A: '1' };
    expect(expandStatic({ X: 'plain', Y: '$(id)' }, env)).toBe(false);
    expect(env).toEqual({ A: '1' });
  });
  it('writes envrc as Flox does: export NAME="value", dependency ordered, quotes escaped', () => {
    expect(envrcLines({ B: 'say "$A"', A: 'x' })).toBe('export A="x"\nexport B="say \\"$A\\""\n');
  });
});
