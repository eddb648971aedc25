// The usage record: atomic, counting, and never a reason for an activation to fail.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

  it('never throws: a file where the dir should be, a record that cannot be replaced; leaves no temp file', () => {
    const s = state();
    writeFileSync(join(s, 'usage'), 'not a dir');
    expect(() => recordUsage(s, input('k'))).not.toThrow();
    // root ignores mode bits, so "unwritable" is a directory where the record goes: rename fails
    const busy = state();
    mkdirSync(join(busy, 'usage', 'k.json'), { recursive: true });
    writeFileSync(join(busy, 'usage', 'k.json', 'x'), '');
    expect(() => recordUsage(busy, input('k'))).not.toThrow();
    expect(readdirSync(join(busy, 'usage'))).toEqual(['k.json']);
  });

  it('a key that is not a plain name writes and reads nothing outside the usage dir', () => {
    const parent = state();
    const s = join(parent, 'state');
    mkdirSync(s);
    recordUsage(s, input('../escape'));
    recordUsage(s, input('../../escape'));
    expect(readdirSync(parent)).toEqual(['state']);
    expect(readdirSync(s)).toEqual([]);
    // a valid record one level up is not read through ../
    recordUsage(s, input('outside'));
    renameSync(join(s, 'usage', 'outside.json'), join(s, 'outside.json'));
    expect(readUsage(s, 'outside')).toBeUndefined();
    expect(readUsage(s, '../outside')).toBeUndefined();
  });

  it('the usage dir is 0700 and records 0600, and an older 0755 dir is tightened', () => {
    const s = state();
    mkdirSync(join(s, 'usage'), { mode: 0o755 });
    chmodSync(join(s, 'usage'), 0o755);
    recordUsage(s, input('k'));
    expect(statSync(join(s, 'usage')).mode & 0o7777).toBe(0o700);
    expect(statSync(join(s, 'usage', 'k.json')).mode & 0o7777).toBe(0o600);
  });

  it('ignores a torn or foreign record', () => {
    const s = state();
    recordUsage(s, input('k1'));
    writeFileSync(join(s, 'usage', 'k2.json'), '{"version": 1, "key"');
    expect(listUsage(s).map((u) => u.key)).toEqual(['k1']);
  });
});
