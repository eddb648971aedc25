// Small zstd NARs decode in one piece, the rest streams: the frame walk that decides, and both
// paths against frames made by the real zstd CLI (single, multi-frame, with and without checksum).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decompressor } from '../../../src/nix/decompress.js';
import { isSingleZstdFrame } from '../../../src/nix/zstd-frame.js';

const zstd = (data: Buffer, ...flags: string[]) => execFileSync('zstd', ['-q', '-c', ...flags], { input: data });
// compressible, with a random part so that blocks of every kind appear
const sample = Buffer.concat([Buffer.from('nix-archive-1\n'.repeat(300)), randomBytes(3000), Buffer.alloc(5000, 7)]);

async function decode(file: Buffer, opts: Parameters<typeof decompressor>[1]): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  async function* src() {
    for (let i = 0; i < file.length; i += 1000) yield file.subarray(i, i + 1000);
  }
  for await (const c of decompressor('zstd', { nativeMinBytes: Infinity, ...opts })(src())) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('isSingleZstdFrame', () => {
  it('walks real frames: one frame with or without checksum and content size; not two, not truncated, not garbage', () => {
    for (const flags of [[], ['--no-check'], ['-19'], ['--no-content-size']]) expect(isSingleZstdFrame(zstd(sample, ...flags)), flags.join(' ')).toBe(true);
    const one = zstd(sample);
    expect(isSingleZstdFrame(Buffer.concat([one, one]))).toBe(false);
    expect(isSingleZstdFrame(one.subarray(0, one.length - 1))).toBe(false);
    expect(isSingleZstdFrame(Buffer.concat([one, Buffer.from([0])]))).toBe(false);
    expect(isSingleZstdFrame(randomBytes(200))).toBe(false);
    expect(isSingleZstdFrame(Buffer.alloc(0))).toBe(false);
  });
});

describe('zstd decoding of a small NAR', () => {
  it('one piece or streamed, the bytes are the same', async () => {
    const one = zstd(sample);
    expect(await decode(one, { fileSize: one.length, narSize: sample.length })).toEqual(sample);
    expect(await decode(one, {})).toEqual(sample);
  });

  it('several frames (another writer than Nix) stream instead, and decode whole', async () => {
    const two = Buffer.concat([zstd(sample.subarray(0, 4000)), zstd(sample.subarray(4000))]);
    expect(await decode(two, { fileSize: two.length, narSize: sample.length })).toEqual(sample);
  });

  it('a NarSize that lies: too small is a decode error, too large gives bytes that fail the NAR check', async () => {
    const one = zstd(sample);
    await expect(decode(one, { fileSize: one.length, narSize: 100 })).rejects.toThrow(/zstd/);
    const long = await decode(one, { fileSize: one.length, narSize: sample.length + 10 });
    expect(long.length).toBe(sample.length + 10);
    expect(long).not.toEqual(sample);
  });

  it('a file longer than announced streams (bounded memory), and still decodes', async () => {
    const big = Buffer.concat([Buffer.from('x'.repeat(10)), randomBytes(200_000)]);
    const file = zstd(big);
    expect(await decode(file, { fileSize: 100, narSize: big.length })).toEqual(big);
  });

  it('garbage is a decode error', async () => {
    await expect(decode(Buffer.concat([zstd(sample).subarray(0, 20), randomBytes(100)]), { fileSize: 120, narSize: sample.length })).rejects.toThrow(/zstd/);
  });
});
