// xz decoding with xz-embedded compiled to WebAssembly: the module that the xz-decompress package
// ships, driven directly. The package wraps it in web streams behind a global mutex; loading
// node:stream/web, the package and its asynchronous instantiation cost ~20 ms before the first
// small NAR decoded, and most NARs of a closure are small. Here the module compiles synchronously
// on first use (~1 ms: it is 12 KiB), and a small file decodes in one synchronous call.
import { DecompressError } from './decompress-error.js';

interface XzExports {
  memory: { buffer: ArrayBuffer };
  create_context(): number;
  destroy_context(ctx: number): void;
  supply_input(ctx: number, length: number): void;
  get_next_output(ctx: number): number;
}

// the global exists in Node; this project's TypeScript lib has no DOM types to describe it
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: XzExports | undefined;

async function xzModule(): Promise<XzExports> {
  if (!compiled) {
    // the package's source as text (esbuild: scripts/esbuild-raw.mjs; vitest reads ?raw itself)
    const { default: source } = await import('xz-decompress/dist/package/xz-decompress.js?raw');
    const base64 = /data:application\/wasm;base64,([A-Za-z0-9+/=]+)/.exec(source)?.[1];
    if (!base64) throw new Error('xz-decompress: no embedded WebAssembly module found');
    compiled ??= new wasm.Instance(new wasm.Module(Buffer.from(base64, 'base64'))).exports as XzExports;
  }
  return compiled;
}

// xz-embedded's return codes (xz.h)
const XZ_OK = 0;
const XZ_STREAM_END = 1;
const XZ_ERRORS: Record<number, string> = {
  2: 'unsupported integrity check',
  3: 'out of memory',
  4: 'dictionary larger than allowed',
  5: 'not an xz file',
  6: 'unsupported options',
  7: 'corrupt data',
  8: 'truncated or corrupt data',
};

/**
 * One decoder state inside the module's memory. The wrapper keeps, at the context's address:
 * [0] buffer size, [1] input buffer, [2] input position, [3] input size, [4] output buffer,
 * [5] output position (u32 words, the layout xz-decompress reads).
 */
class XzContext {
  private readonly ptr: number;
  readonly bufSize: number;
  private readonly inAt: number;
  private readonly outAt: number;

  constructor(private readonly x: XzExports) {
    this.ptr = x.create_context();
    const w = this.words();
    this.bufSize = w[0]!;
    this.inAt = w[1]!;
    this.outAt = w[4]!;
  }

  // the memory may grow (and its buffer change) during any call
  private words(): Uint32Array {
    return new Uint32Array(this.x.memory.buffer, this.ptr, 6);
  }

  needsInput(): boolean {
    const w = this.words();
    return w[2] === w[3];
  }

  /** At most bufSize bytes; an empty input tells the decoder that the file has ended. */
  supply(input: Uint8Array): void {
    new Uint8Array(this.x.memory.buffer, this.inAt, input.length).set(input);
    this.x.supply_input(this.ptr, input.length);
  }

  /** Runs the decoder; returns a copy of what it produced and whether the stream ended. */
  run(): { out: Uint8Array | undefined; end: boolean } {
    const r = this.x.get_next_output(this.ptr);
    if (r !== XZ_OK && r !== XZ_STREAM_END) throw new DecompressError(`xz: ${XZ_ERRORS[r] ?? `error ${r}`}`);
    const w = this.words();
    const n = w[5]!;
    w[5] = 0;
    return { out: n ? new Uint8Array(this.x.memory.buffer, this.outAt, n).slice() : undefined, end: r === XZ_STREAM_END };
  }

  dispose(): void {
    this.x.destroy_context(this.ptr);
  }
}

/** Decodes a whole small file at once; fails when the output would pass `maxOut` bytes. */
export async function xzDecodeWhole(input: Uint8Array, maxOut: number): Promise<Uint8Array[]> {
  const ctx = new XzContext(await xzModule());
  const out: Uint8Array[] = [];
  let size = 0;
  let at = 0;
  let eofSent = false;
  try {
    for (;;) {
      if (ctx.needsInput()) {
        if (at === input.length) {
          if (eofSent) throw new DecompressError('xz: truncated file');
          eofSent = true;
        }
        const piece = input.subarray(at, at + ctx.bufSize);
        at += piece.length;
        ctx.supply(piece);
      }
      const r = ctx.run();
      if (r.out) {
        size += r.out.length;
        if (size > maxOut) throw new DecompressError(`xz: decodes to more than the ${maxOut} bytes announced`);
        out.push(r.out);
      }
      if (r.end) {
        if (at < input.length) throw new DecompressError('xz: data after the end of the stream');
        return out;
      }
    }
  } finally {
    ctx.dispose();
  }
}

/** Streaming decode: each context holds up to a dictionary of memory, so callers run one at a time. */
export async function* xzDecodeStream(src: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const ctx = new XzContext(await xzModule());
  const it = src[Symbol.asyncIterator]();
  let pending: Uint8Array = new Uint8Array(0);
  let srcDone = false;
  let eofSent = false;
  try {
    for (;;) {
      if (ctx.needsInput()) {
        while (!pending.length && !srcDone) {
          const r = await it.next();
          if (r.done) srcDone = true;
          else pending = r.value;
        }
        if (!pending.length) {
          if (eofSent) throw new DecompressError('xz: truncated file');
          eofSent = true;
        }
        const piece = pending.subarray(0, ctx.bufSize);
        pending = pending.subarray(piece.length);
        ctx.supply(piece);
      }
      const r = ctx.run();
      if (r.out) yield r.out;
      if (r.end) {
        // nothing may follow the stream (Nix writes one xz stream per NAR)
        if (pending.length) throw new DecompressError('xz: data after the end of the stream');
        while (!srcDone) {
          const r = await it.next();
          if (r.done) srcDone = true;
          else if (r.value.length) throw new DecompressError('xz: data after the end of the stream');
        }
        return;
      }
    }
  } finally {
    ctx.dispose();
    if (!srcDone) await it.return?.();
  }
}
