// Streaming decompressors for every Compression a Nix cache may use. Node 20 has gzip and
// brotli; xz comes from xz-decompress (xz-embedded as wasm), zstd from fzstd (pure JS), bzip2
// from unbzip2-stream (pure JS). All of them work chunk by chunk: a NAR is never held whole.
import { PassThrough, Readable, type Duplex, pipeline } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { createBrotliDecompress, createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import unbzip2 from 'unbzip2-stream';
import xzDecompress from 'xz-decompress';
import { FloxError } from '../errors.js';
import type { Compression } from './narinfo.js';

export type Decompressor = (src: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;

/** A decompressor library failed: the compressed file is corrupt (or not what it claims). */
export class DecompressError extends Error {}

async function* viaNodeStream(src: AsyncIterable<Uint8Array>, t: Duplex): AsyncIterable<Uint8Array> {
  let upstream: unknown;
  const s = Readable.from(src, { objectMode: false });
  s.on('error', (e) => (upstream = e));
  // through a PassThrough: unbzip2-stream is an old-style stream that is not async-iterable
  const out = new PassThrough();
  pipeline(s, t, out, () => {});
  try {
    for await (const c of out) yield c as Uint8Array;
  } catch (e) {
    // an upstream failure (download, FileHash) is the real story, not the decoder's complaint
    throw upstream ?? new DecompressError((e as Error).message);
  } finally {
    s.destroy();
    t.destroy();
    out.destroy();
  }
}

async function* xz(src: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const it = src[Symbol.asyncIterator]();
  let upstream: unknown;
  const input = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      try {
        const r = await it.next();
        if (r.done) ctl.close();
        else ctl.enqueue(r.value);
      } catch (e) {
        upstream = e;
        ctl.error(e);
      }
    },
    async cancel() {
      await it.return?.();
    },
  });
  const out = new xzDecompress.XzReadableStream(input as unknown as globalThis.ReadableStream<Uint8Array>);
  const reader = out.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      yield r.value;
    }
  } catch (e) {
    throw upstream ?? new DecompressError(e instanceof Error ? e.message : String(e));
  } finally {
    await reader.cancel().catch(() => {});
  }
}

async function* zstd(src: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let out: Uint8Array[] = [];
  // fzstd may reuse its window buffer between callbacks: copy what it hands out
  const d = new ZstdDecompress((chunk) => void out.push(Uint8Array.prototype.slice.call(chunk)));
  const push = (c: Uint8Array, final: boolean) => {
    try {
      d.push(c, final);
    } catch (e) {
      throw new DecompressError(`zstd: ${(e as Error).message}`);
    }
  };
  for await (const c of src) {
    push(c, false);
    if (out.length) {
      const ready = out;
      out = [];
      yield* ready;
    }
  }
  push(new Uint8Array(0), true);
  yield* out;
}

async function* none(src: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  yield* src;
}

export function decompressor(c: Compression): Decompressor {
  switch (c) {
    case 'none':
      return none;
    case 'xz':
      return xz;
    case 'zstd':
      return zstd;
    case 'gzip':
      return (src) => viaNodeStream(src, createGunzip());
    case 'br':
      return (src) => viaNodeStream(src, createBrotliDecompress());
    case 'bzip2':
      return (src) => viaNodeStream(src, unbzip2());
    default:
      throw new FloxError('nix-format', `compression "${c}" is not supported (supported: xz, zstd, bzip2, br, gzip, none)`);
  }
}
