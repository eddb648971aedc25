// The walk checks what it opened, through the descriptor, not the path: a pod that swaps its
// file for a link, a FIFO or a device after the walk opened it gets its own file read, or an
// error, never what the path names by then.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clampTarget, ConfinedReadError, openInside, readOpened } from '../../../src/fs/confined-read.js';

const base = mkdtempSync(join(tmpdir(), 'confined-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const outsideFile = join(base, 'outside');
writeFileSync(outsideFile, 'outside');

function volume(token = 'mine'): string {
  const v = join(base, `v-${++n}`);
  mkdirSync(v);
  writeFileSync(join(v, 'key'), token);
  return v;
}

describe('clampTarget', () => {
  it('resolves a target against the link\'s directory, refusing anything above the root', () => {
    expect(clampTarget('/r', [], '..data/key')).toEqual(['..data', 'key']);
    expect(clampTarget('/r', ['a', 'b'], '../c')).toEqual(['a', 'c']);
    expect(clampTarget('/r', ['a'], '../../c')).toBeUndefined();
    expect(clampTarget('/r', ['a'], '/r/x/./y')).toEqual(['x', 'y']);
    expect(clampTarget('/r', ['a'], '/r/../r/x')).toBeUndefined();
    expect(clampTarget('/r', [], '/rx/key')).toBeUndefined();
    expect(clampTarget('/r', [], '/etc/passwd')).toBeUndefined();
    expect(clampTarget('/', [], '/etc/passwd')).toEqual(['etc', 'passwd']);
  });
});

describe('a swap after the open', () => {
  it('the file replaced by a link to another file: the opened inode is read', () => {
    const v = volume();
    const fd = openInside(v, 'key')!;
    unlinkSync(join(v, 'key'));
    symlinkSync(outsideFile, join(v, 'key'));
    expect(readOpened(fd, 100).toString()).toBe('mine');
    // a path-based check-then-read would have read this:
    expect(spawnSync('cat', [join(v, 'key')], { encoding: 'utf8' }).stdout).toBe('outside');
  });

  it('the file replaced by a FIFO or /dev/zero: still the opened file, no wait', () => {
    const v = volume();
    const fd = openInside(v, 'key')!;
    unlinkSync(join(v, 'key'));
    expect(spawnSync('mkfifo', [join(v, 'key')]).status).toBe(0);
    expect(readOpened(fd, 100).toString()).toBe('mine');
    const w = volume();
    const fd2 = openInside(w, 'key')!;
    rmSync(join(w, 'key'));
    symlinkSync('/dev/zero', join(w, 'key'));
    expect(readOpened(fd2, 100).toString()).toBe('mine');
  });

  it('a directory swapped for a link out after the walk entered it: the walk keeps the directory it holds', () => {
    const v = volume();
    mkdirSync(join(v, 'd'));
    writeFileSync(join(v, 'd', 'key'), 'mine');
    const fd = openInside(v, 'd/key')!;
    renameSync(join(v, 'd'), join(v, 'old'));
    symlinkSync(base, join(v, 'd'));
    expect(readOpened(fd, 100).toString()).toBe('mine');
  });

  it('an O_PATH descriptor of a FIFO or directory is refused by fstat, and a file that grew past the limit', () => {
    const v = volume();
    expect(spawnSync('mkfifo', [join(v, 'fifo')]).status).toBe(0);
    mkdirSync(join(v, 'dir'));
    for (const [rel, kind] of [['fifo', 'a FIFO'], ['dir', 'a directory'], ['.', 'a directory']] as const) {
      const fd = openInside(v, rel)!;
      expect(() => readOpened(fd, 100)).toThrow(new ConfinedReadError('not-regular', kind));
    }
    const fd = openInside(v, 'key')!;
    writeFileSync(join(v, 'key'), 'x'.repeat(200)); // same inode, larger after the open
    expect(() => readOpened(fd, 100)).toThrow(ConfinedReadError);
  });
});
