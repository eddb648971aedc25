// The one atomic writer: whole file or old file, the old mode kept, no temp file left behind,
// with or without the fsyncs.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../src/fs/atomic.js';

const work = mkdtempSync(join(tmpdir(), 'flox-atomic-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each([true, false])('writeFileAtomic, durable %s', (durable) => {
  it('replaces the file, keeps its mode and leaves no temp file', () => {
    const dir = mkdtempSync(join(work, 'd-'));
    const f = join(dir, 'config.json');
    writeFileSync(f, 'old');
    chmodSync(f, 0o600);
    for (let i = 0; i < 3; i++) writeFileAtomic(f, `new ${i}`, { durable });
    expect(readFileSync(f, 'utf8')).toBe('new 2');
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['config.json']);
  });

  it('keeps the owner of a file it replaces; a new file gets exactly the mode asked for, whatever the umask', () => {
    const dir = mkdtempSync(join(work, 'o-'));
    const f = join(dir, 'config.toml');
    writeFileSync(f, 'old');
    chmodSync(f, 0o640);
    chownSync(f, 1234, 1234);
    const umask = process.umask(0o077);
    try {
      writeFileAtomic(f, 'new', { durable });
      writeFileAtomic(join(dir, 'new'), 'x', { mode: 0o644, durable });
    } finally {
      process.umask(umask);
    }
    expect(statSync(f)).toMatchObject({ uid: 1234, gid: 1234 });
    expect(statSync(f).mode & 0o7777).toBe(0o640);
    expect(statSync(join(dir, 'new')).mode & 0o7777).toBe(0o644);
  });

  it('fails with the kind asked for, and leaves the old file and no temp file', () => {
    const dir = mkdtempSync(join(work, 'e-'));
    const f = join(dir, 'spec');
    mkdirSync(f); // a directory where the file should go: rename fails
    expect(() => writeFileAtomic(f, 'x', { durable, errorKind: 'spec' })).toThrow(expect.objectContaining({ kind: 'spec', message: expect.stringMatching(/cannot write .*spec/) }));
    expect(readdirSync(dir)).toEqual(['spec']);
    expect(statSync(f).isDirectory()).toBe(true);
  });
});
