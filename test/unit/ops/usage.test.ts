// The usage record: atomic, counting, and never a reason for an activation to fail.
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listUsage, readUsage, recordUsage, removeUsage } from '../../../src/ops/usage.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const state = () => {
  const d = mkdtempSync(join(tmpdir(), 'usage-'));
  dirs.push(d);
  return d;
};
const input = (key: string) => ({ resolved: { description: 'o/hello', generation: 2, commit: 'c'.repeat(40) }, mode: 'run' as const, system: 'x86_64-linux', key, closure: ['/nix/store/x'] });

describe('usage records', () => {
  it('writes, counts and lists; leaves no temp files', () => {
    const s = state();
    recordUsage(s, input('abc-hello-2-run'), new Date('2026-11-28T01:00:00Z'));
    recordUsage(s, input('abc-hello-2-run'), new Date('2026-11-28T02:00:00Z'));
    expect(readUsage(s, 'abc-hello-2-run')).toMatchObject({ count: 2, lastUsed: '2026-11-28T02:00:00.000Z', environment: 'o/hello', generation: 2, closure: ['/nix/store/x'] });
    expect(readdirSync(join(s, 'usage'))).toEqual(['abc-hello-2-run.json']);
    expect(listUsage(s)).toHaveLength(1);
    removeUsage(s, 'abc-hello-2-run');
    expect(listUsage(s)).toEqual([]);
  });

  it('never throws: unwritable dir, a file where the dir should be, a bad key', () => {
    const s = state();
    writeFileSync(join(s, 'usage'), 'not a dir');
    expect(() => recordUsage(s, input('k'))).not.toThrow();
    const ro = state();
    chmodSync(ro, 0o500);
    expect(() => recordUsage(ro, input('k'))).not.toThrow();
    expect(() => recordUsage(state(), input('../escape'))).not.toThrow();
    expect(readUsage(s, '../../etc/passwd')).toBeUndefined();
  });

  it('ignores a torn or foreign record', () => {
    const s = state();
    recordUsage(s, input('k1'));
    writeFileSync(join(s, 'usage', 'k2.json'), '{"version": 1, "key"');
    expect(listUsage(s).map((u) => u.key)).toEqual(['k1']);
  });
});
