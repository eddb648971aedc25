// xz through the wasm decoder (xz-wasm.ts), in one piece for small NARs and streamed for the
// rest, against files made by the real xz CLI; and every way a file can be broken.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DecompressError, decompressor } from '../../../src/nix/decompress.js';
import { xzDecodeStream, xzDecodeWhole } from '../../../src/nix/xz-wasm.js';

const xz = (data: Buffer, ...flags: string[]) => execFileSync('xz', ['-q', '-c', ...flags], { input: data });
const sample = Buffer.concat([Buffer.from('nix-archive-1\n'.repeat(300)), randomBytes(3000), Buffer.alloc(5000, 7)]);

async function* pieces(file: Buffer, size: number) {
  for (let i = 0; i < file.length; i += size) yield file.subarray(i, i + size);
}
async function collect(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const c of src) out.push(c);
  return Buffer.concat(out);
}
const viaDecompressor = (file: Buffer, opts: Parameters<typeof decompressor>[1], chunk = 1000) =>
  collect(decompressor('xz', { nativeMinBytes: Infinity, ...opts })(pieces(file, chunk)));

describe('xz in one piece and streamed', () => {
  it.each([[[]], [['-0']], [['-9']], [['--check=crc32']], [['--check=none']]])('xz %j: both give the original bytes', async (flags) => {
    const file = xz(sample, ...flags);
    expect(Buffer.concat(await xzDecodeWhole(file, sample.length))).toEqual(sample);
    for (const chunk of [1, 7, 4096, 1 << 20]) expect(await collect(xzDecodeStream(pieces(file, chunk)))).toEqual(sample);
  });

  it('the decompressor picks one piece for a small NAR and streaming otherwise, with the same result', async () => {
    const file = xz(sample);
    expect(await viaDecompressor(file, { fileSize: file.length, narSize: sample.length })).toEqual(sample);
    expect(await viaDecompressor(file, {})).toEqual(sample);
    // a file longer than its FileSize says is streamed after all (memory stays bounded)
    const big = xz(randomBytes(100_000), '-0');
    expect((await viaDecompressor(big, { fileSize: 10, narSize: 100_000 })).length).toBe(100_000);
  });

  it('several streams at once all decode (they take turns)', async () => {
    const files = [1, 2, 3, 4].map((i) => xz(Buffer.alloc(200_000 * i, i)));
    const out = await Promise.all(files.map((f) => viaDecompressor(f, {}, 5000)));
    expect(out.map((b) => b.length)).toEqual([200_000, 400_000, 600_000, 800_000]);
  });
});

describe('broken files are DecompressErrors', () => {
  const file = xz(sample);
  const both = async (bad: Buffer, narSize = sample.length) => {
    await expect(xzDecodeWhole(bad, narSize)).rejects.toBeInstanceOf(DecompressError);
    await expect(collect(xzDecodeStream(pieces(bad, 333)))).rejects.toBeInstanceOf(DecompressError);
  };
  it('truncated anywhere', async () => {
    for (const cut of [0, 6, 12, 100, file.length - 1]) await both(file.subarray(0, cut));
  });
  it('a flipped byte (caught by the format or its check)', async () => {
    for (const at of [0, 20, file.length >> 1, file.length - 10]) {
      const bad = Buffer.from(file);
      bad[at] = bad[at]! ^ 0x55;
      await both(bad);
    }
  });
  it('garbage, and data after the end of the stream', async () => {
    await both(randomBytes(500));
    await both(Buffer.concat([file, Buffer.from('trailing')]));
  });
  it('more output than NarSize announces, in one piece (a bomb is stopped at the bound)', async () => {
    await expect(xzDecodeWhole(file, 100)).rejects.toThrow(/more than the 100 bytes/);
  });
});
