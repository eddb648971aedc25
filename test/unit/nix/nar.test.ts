// The streaming NAR reader on valid archives and on every hostile shape.
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unpackNar } from '../../../src/nix/index.js';
import { FloxError } from '../../../src/errors.js';
import { type Tree, chunked, dumpPath, nar, node, str, strs } from '../../support/nix-nar.js';

const tmp = mkdtempSync(join(tmpdir(), 'flox-nar-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const dest = () => join(tmp, `t${n++}`);

async function unpack(b: Buffer, chunk = 7, narSize = b.length) {
  const d = dest();
  const r = await unpackNar(chunked(b, chunk), d, { narSize });
  return { d, r };
}
async function rejects(b: Buffer, msg: RegExp, narSize = b.length) {
  const d = dest();
  const err = await unpackNar(chunked(b, 5), d, { narSize }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FloxError);
  expect((err as FloxError).kind).toBe('nix-nar');
  expect((err as Error).message).toMatch(msg);
  return d;
}

const tree: Tree = {
  type: 'directory',
  entries: [
    ['bin', { type: 'directory', entries: [['hello', { type: 'regular', contents: '#!/bin/sh\necho hi\n', executable: true }], ['hi', { type: 'symlink', target: 'hello' }]] }],
    ['empty', { type: 'regular', contents: '' }],
    ['emptydir', { type: 'directory', entries: [] }],
    ['z-abs', { type: 'symlink', target: '/nix/store/xfs61qzmvcq6xbq03lnidzxj7cxwxppj-busybox-1.35.0/bin/sh' }],
  ],
};

describe('valid NARs', () => {
  it.each([1, 7, 8, 4096])('unpacks a tree in %i-byte chunks and dumps back to the same bytes', async (chunk) => {
    const b = nar(tree);
    const { d, r } = await unpack(b, chunk);
    expect(r.size).toBe(b.length);
    expect(dumpPath(d).equals(b)).toBe(true);
    expect(readlinkSync(join(d, 'bin/hi'))).toBe('hello');
    expect(lstatSync(join(d, 'bin/hello')).mode & 0o777).toBe(0o555);
    expect(lstatSync(join(d, 'empty')).mode & 0o777).toBe(0o444);
    expect(lstatSync(d).mode & 0o777).toBe(0o555);
  });
  it('unpacks a root regular file and hashes it (for text CA paths)', async () => {
    const { d, r } = await unpack(nar({ type: 'regular', contents: '[ ]' }));
    expect(readFileSync(d, 'utf8')).toBe('[ ]');
    expect(r.rootFileSha256?.toString('hex')).toBe(createHash('sha256').update('[ ]').digest('hex'));
  });
  it('creates a root symlink without following it', async () => {
    const { d } = await unpack(nar({ type: 'symlink', target: '/etc' }));
    expect(lstatSync(d).isSymbolicLink()).toBe(true);
    expect(readlinkSync(d)).toBe('/etc');
  });
  it('keeps non-UTF-8 names byte for byte', async () => {
    const name = Buffer.from([0x66, 0xff, 0xfe]);
    const b = nar({ type: 'directory', entries: [[name, { type: 'regular', contents: 'x' }]] });
    const { d } = await unpack(b);
    expect(readdirSync(d, { encoding: 'buffer' })[0]!.equals(name)).toBe(true);
  });
  it('never writes through a symlink it created (an escaping link stays a link)', async () => {
    const outside = join(tmp, 'outside');
    const b = nar({ type: 'directory', entries: [['a', { type: 'symlink', target: outside }]] });
    const { d } = await unpack(b);
    expect(readlinkSync(join(d, 'a'))).toBe(outside);
    expect(existsSync(outside)).toBe(false);
  });
});

const dirWith = (...names: (string | Buffer)[]) => nar({ type: 'directory', entries: names.map((nm) => [nm, { type: 'regular', contents: 'x' }]) });

describe('hostile NARs', () => {
  it.each([
    ['a slash', 'a/b'],
    ['dot', '.'],
    ['dot-dot', '..'],
    ['NUL', 'a\0b'],
    ['empty', ''],
  ])('rejects an entry name with %s', async (_, name) => {
    await rejects(dirWith(name), /name/);
  });
  it('rejects unsorted entries', async () => {
    await rejects(dirWith('b', 'a'), /not sorted/);
  });
  it('rejects duplicate entries (which would also overwrite)', async () => {
    await rejects(dirWith('a', 'a'), /duplicate/);
  });
  it('rejects non-zero padding', async () => {
    const b = Buffer.concat([str('nix-archive-1'), strs('(', 'type', 'regular', 'contents'), str('abc', { pad: 1 }), strs(')')]);
    await rejects(b, /padding/);
  });
  it('rejects trailing bytes', async () => {
    const b = Buffer.concat([nar({ type: 'regular', contents: 'x' }), Buffer.alloc(8)]);
    await rejects(b, /trailing/);
  });
  it('rejects a file whose size lies (longer than what follows)', async () => {
    const b = Buffer.concat([str('nix-archive-1'), strs('(', 'type', 'regular', 'contents'), str('abc', { len: 40n }), strs(')')]);
    await rejects(b, /ends early|larger/);
  });
  it('rejects a file size larger than the rest of NarSize', async () => {
    const b = nar({ type: 'regular', contents: 'x'.repeat(100) });
    await rejects(b, /larger than allowed/, b.length - 8);
  });
  it('rejects absurd lengths without allocating them', async () => {
    const b = Buffer.concat([str('nix-archive-1'), strs('(', 'type', 'regular', 'contents'), str('', { len: 2n ** 62n })]);
    await rejects(b, /larger than allowed/, 1 << 30);
    const tok = Buffer.concat([str('nix-archive-1'), str('', { len: 2n ** 63n })]);
    await rejects(tok, /larger than allowed/, 1 << 30);
  });
  it('rejects a NAR shorter or longer than NarSize', async () => {
    const b = nar({ type: 'regular', contents: 'x' });
    await rejects(b, /NarSize/, b.length + 8);
  });
  it('rejects truncation anywhere', async () => {
    const b = nar(tree);
    for (const cut of [0, 9, 64, b.length - 8, b.length - 1]) await rejects(b.subarray(0, cut), /ends early|NarSize/, b.length);
  });
  it('rejects bad magic, unknown types and a non-empty executable marker', async () => {
    await rejects(Buffer.concat([str('nix-archive-2'), node({ type: 'regular', contents: '' })]), /expected "nix-archive-1"/);
    await rejects(Buffer.concat([str('nix-archive-1'), strs('(', 'type', 'fifo', ')')]), /unknown node type/);
    await rejects(Buffer.concat([str('nix-archive-1'), strs('(', 'type', 'regular', 'executable', 'yes', 'contents', 'x', ')')]), /executable/);
  });
  it('rejects empty symlink targets and NUL in targets', async () => {
    await rejects(nar({ type: 'symlink', target: '' }), /symlink target/);
    await rejects(nar({ type: 'symlink', target: 'a\0b' }), /symlink target/);
  });
  it('stops pulling from the source after an error', async () => {
    let pulled = 0;
    let closed = false;
    const b = dirWith('b', 'a');
    async function* src() {
      try {
        for (let i = 0; i < b.length; i += 8) {
          pulled += 8;
          yield b.subarray(i, i + 8);
        }
        for (;;) yield Buffer.alloc(8);
      } finally {
        closed = true;
      }
    }
    await expect(unpackNar(src(), dest(), { narSize: 1 << 20 })).rejects.toThrow(/not sorted/);
    expect(closed).toBe(true);
    expect(pulled).toBeLessThan(b.length + 8);
  });
});
