// Streaming decompressors for every Compression a Nix cache may use. Node 20 has gzip and
// brotli; xz comes from xz-embedded as wasm (xz-wasm.ts), zstd from fzstd (pure JS), bzip2
// from unbzip2-stream (pure JS); large files go through the native tools when the node has
// them. All of them work chunk by chunk: a NAR is never held whole, except a small one (its
// file and NAR sizes bounded, see smallOrStream) that decodes in one piece.
import { PassThrough, type Duplex, type Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { FloxError } from '../errors.js';
import { readAhead } from '../net/chunk-queue.js';
import { DecompressError } from './decompress-error.js';
import { Limiter } from './limit.js';
import { xzDecodeStream, xzDecodeWhole } from './xz-wasm.js';
import { isSingleZstdFrame } from './zstd-frame.js';
import type { Compression } from './narinfo.js';

export { DecompressError } from './decompress-error.js';

export type Decompressor = (src: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;

/**
 * Feeds `src` into a writable by hand (not pipeline(): that would blame the source for the
 * sink's errors). Returns what the source itself threw, if anything.
 */
async function pump(src: AsyncIterable<Uint8Array>, sink: Writable): Promise<unknown> {
  let sinkError: unknown;
  sink.on('error', (e) => (sinkError = e));
  try {
    for await (const c of src) {
      if (sinkError || sink.destroyed) return undefined;
      if (!sink.write(c)) await new Promise<void>((r) => (sink.once('drain', r), sink.once('close', r)));
    }
    sink.end();
    return undefined;
  } catch (e) {
    sink.destroy();
    return e;
  }
}

async function* viaNodeStream(source: AsyncIterable<Uint8Array>, t: Duplex): AsyncIterable<Uint8Array> {
  // through a PassThrough: unbzip2-stream is an old-style stream that is not async-iterable
  const out = new PassThrough();
  t.on('error', (e) => out.destroy(e));
  t.pipe(out);
  let upstream: unknown;
  void pump(source, t).then((e) => {
    if (e) out.destroy((upstream = e) as Error);
  });
  try {
    for await (const c of out) yield c as Uint8Array;
  } catch (e) {
    // an upstream failure (download, FileHash) is the real story, not the decoder's complaint
    throw e === upstream ? e : new DecompressError((e as Error).message);
  } finally {
    t.destroy();
    out.destroy();
  }
}

// How far a native decoder may run ahead of its reader. The reader is the main thread, busy with
// the other NARs of a closure for stretches of milliseconds; with only the socket's own buffer
// (~200 KiB) between them the decoder stalls as soon as it is full, and xz of a large NAR ends
// up waiting for the main thread instead of beside it.
const NATIVE_READ_AHEAD = 1024 * 1024;

/**
 * Native xz/zstd/bzip2 through a pipe, when the node has them: same streaming, 4-5x less CPU
 * than wasm/JS on large NARs. The pure JS/wasm decoders remain the portable path.
 */
async function* viaProcess(source: AsyncIterable<Uint8Array>, bin: string): AsyncIterable<Uint8Array> {
  const child = spawn(bin, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let upstream: unknown;
  let fed = false;
  const feeding = pump(source, child.stdin).then((e) => {
    upstream = e;
    fed = true;
  });
  try {
    yield* readAhead(child.stdout, NATIVE_READ_AHEAD);
    const code = await exited;
    // a failed source closes the decoder's stdin: then the source's error is the one to report
    if (code === 0 || fed) await feeding;
    if (upstream) throw upstream;
    if (code !== 0) throw new DecompressError(`${bin} -dc exited with ${code}: ${stderr.trim().slice(0, 200)}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

const found = new Map<string, string | undefined>();
function which(bin: string): string | undefined {
  if (!found.has(bin)) {
    let hit: string | undefined;
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      try {
        accessSync(join(dir, bin), constants.X_OK);
        hit = join(dir, bin);
        break;
      } catch {}
    }
    found.set(bin, hit);
  }
  return found.get(bin);
}

// Each streaming xz context holds its own dictionary (up to 64 MiB) in the module's memory,
// which never shrinks: one at a time keeps peak memory to one dictionary.
const wasmXz = new Limiter(1);

async function* xz(src: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const release = await wasmXz.acquire();
  try {
    yield* xzDecodeStream(src);
  } finally {
    release();
  }
}

async function* zstd(src: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const { Decompress: ZstdDecompress } = await import('fzstd');
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

// A small NAR (file and NAR size known, as narinfo gives them) is decoded in one go into memory
// bounded by the two limits: streaming decoders cost more per NAR than most NARs of a closure
// take to decode (fzstd allocates and shifts a 2-8 MiB window; an xz context a dictionary).
// A file longer than announced streams after all, and a NAR of another size than NarSize fails
// its NarSize/NarHash check after this.
const ONE_SHOT_MAX_FILE = 64 * 1024;
const ONE_SHOT_MAX_NAR = 4 * 1024 * 1024;

type WholeDecoder = (input: Buffer, narSize: number) => Promise<Iterable<Uint8Array>> | undefined;

function smallOrStream(narSize: number | undefined, fileSize: number | undefined, whole: WholeDecoder, stream: Decompressor): Decompressor {
  if (narSize === undefined || narSize > ONE_SHOT_MAX_NAR || fileSize === undefined || fileSize > ONE_SHOT_MAX_FILE) return stream;
  return async function* (src) {
    const it = src[Symbol.asyncIterator]();
    const head: Uint8Array[] = [];
    let size = 0;
    for (let r = await it.next(); !r.done; r = await it.next()) {
      head.push(r.value);
      size += r.value.length;
      if (size > ONE_SHOT_MAX_FILE) {
        yield* stream(prepend(head, it));
        return;
      }
    }
    const input = Buffer.concat(head, size);
    const decoded = whole(input, narSize);
    if (!decoded) {
      yield* stream(prepend([input], it));
      return;
    }
    yield* await decoded;
  };
}

const zstdWhole: WholeDecoder = (input, narSize) => {
  // fzstd's one-shot decoder takes one plain frame
  if (!isSingleZstdFrame(input)) return undefined;
  return import('fzstd').then(({ decompress }) => {
    try {
      return [decompress(input, new Uint8Array(narSize))];
    } catch (e) {
      throw new DecompressError(`zstd: ${(e as Error).message}`);
    }
  });
};

const xzWhole: WholeDecoder = (input, narSize) => xzDecodeWhole(input, narSize);

async function* prepend(head: Uint8Array[], rest: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  yield* head;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

async function* none(src: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  yield* src;
}

export interface DecompressorOptions {
  /** use xz/zstd/bzip2 from PATH when present and the file is at least this big (default 64 KiB; Infinity: never) */
  nativeMinBytes?: number;
  fileSize?: number;
  /** the NAR's size from narinfo: small NARs decode in one piece (smallOrStream) */
  narSize?: number;
}

const NATIVE: Partial<Record<Compression, string>> = { xz: 'xz', zstd: 'zstd', bzip2: 'bzip2' };

export function decompressor(c: Compression, opts: DecompressorOptions = {}): Decompressor {
  const native = NATIVE[c];
  const big = (opts.fileSize ?? Infinity) >= (opts.nativeMinBytes ?? 64 * 1024);
  const bin = native && big && Number.isFinite(opts.nativeMinBytes ?? 0) ? which(native) : undefined;
  if (bin) return (src) => viaProcess(src, bin);
  switch (c) {
    case 'none':
      return none;
    case 'xz':
      return smallOrStream(opts.narSize, opts.fileSize, xzWhole, xz);
    case 'zstd':
      return smallOrStream(opts.narSize, opts.fileSize, zstdWhole, zstd);
    // node:zlib loads only for the compressions that need it
    case 'gzip':
      return async function* (src) {
        const { createGunzip } = await import('node:zlib');
        yield* viaNodeStream(src, createGunzip());
      };
    case 'br':
      return async function* (src) {
        const { createBrotliDecompress } = await import('node:zlib');
        yield* viaNodeStream(src, createBrotliDecompress());
      };
    case 'bzip2':
      return async function* (src) {
        const { default: unbzip2 } = await import('unbzip2-stream');
        yield* viaNodeStream(src, unbzip2());
      };
    default:
      throw new FloxError('nix-format', `compression "${c}" is not supported (supported: xz, zstd, bzip2, br, gzip, none)`);
  }
}
