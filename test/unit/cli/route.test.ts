// The operator commands are named in three places: bin/flox-runtime (which words go to Node),
// src/cli/route.ts (which program answers in Node) and the commander program itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../src/cli/operator.js';
import { OPERATOR_COMMANDS, route } from '../../../src/cli/route.js';
import { REPO } from '../../support/paths.js';

function frontEndOperators(): string[] {
  const text = readFileSync(join(REPO, 'bin/flox-runtime'), 'utf8');
  const body = /is_operator\(\) \{\n\s+case \$1 in\n\s+([^)]+)\) return 0 ;;/.exec(text);
  if (!body) throw new Error('bin/flox-runtime has no is_operator case');
  return body[1]!.split('|');
}

describe('one list of operator commands', () => {
  it('bin/flox-runtime, route.ts and the commander program name the same commands', () => {
    const program = buildProgram().commands.map((c) => c.name()).sort();
    expect([...OPERATOR_COMMANDS].sort()).toEqual(program);
    expect(frontEndOperators().sort()).toEqual(program);
  });
});

describe('route', () => {
  it.each([
    [[], 'operator'],
    [['--help'], 'operator'],
    [['-v'], 'operator'],
    [['help'], 'operator'],
    [['help', 'doctor'], 'operator'],
    [['help', 'create'], 'oci'],
    [['doctor', '--json'], 'operator'],
    [['--root', '/run/x', 'list'], 'oci'],
    [['--root', '/run/x'], 'oci'],
    [['no-such-command'], 'oci'],
    [['create', '--bundle', '/b', 'id'], 'oci'],
  ] as const)('%j -> %s', (argv, expected) => {
    expect(route(argv)).toBe(expected);
  });
});
