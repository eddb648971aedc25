// Streaming NAR (Nix ARchive) reader that writes the tree to disk as it goes. Every rule of the
// format is enforced because the input is untrusted until its NarHash is known to match: names
// must be plain single components, entries strictly sorted, padding zero, lengths bounded by
// what is left of NarSize, and nothing may follow the root node.
import { chmod, close, fchmod, futimes, mkdir, open, symlink, utimes, write } from 'node:fs';
import { createHash } from 'node:crypto';
import { FloxError } from '../errors.js';
import { ByteSource, TruncatedError } from './byte-source.js';
import { Limiter } from './limit.js';

export const NAR_MAGIC = 'nix-archive-1';
const NAME_MAX = 255;
const TARGET_MAX = 4095;
const TOKEN_MAX = 64;
const MAX_DEPTH = 256;

export interface UnpackOptions {
  /** total NAR size from the narinfo: no length inside may exceed what is left of it */
  narSize: number;
  /** for messages */
  what?: string;
}

export interface UnpackResult {
  /** bytes of NAR consumed */
  size: number;
  /** sha256 of the contents when the root is a regular file (needed for text/flat CA paths) */
  rootFileSha256?: Buffer;
  files: number;
}

export class NarError extends FloxError {
  constructor(message: string) {
    super('nix-nar', message);
  }
}

const SLASH = 0x2f;
const EPOCH_PLUS_ONE = 1; // Nix canonicalises every mtime to 1

type Cb<T> = (e: NodeJS.ErrnoException | null, v: T) => void;
const call = <T = void>(f: (cb: Cb<T>) => void): Promise<T> => new Promise<T>((resolve, reject) => f((e, v) => (e ? reject(e) : resolve(v))));

/** Where the next entry of a directory may be created. */
interface Lane {
  tail: Promise<unknown>;
}

/** Bytes of file contents handed to the writer and not yet on disk, before the reader waits. */
const MAX_QUEUED_BYTES = 4 << 20;

/**
 * Does the file system work of one unpack off the main thread (creating entries is the slow
 * part of unpacking on many file systems, and the reader, the download and the other paths'
 * unpacks go on meanwhile). Each entry waits for its directory; a directory is sealed
 * (mode, mtime) after everything in it. At most a few operations of one tree run at once, so
 * several trees share the thread pool, and file contents in flight are bounded.
 */
class TreeWriter {
  error: unknown;
  private readonly all: Promise<unknown>[] = [];
  private readonly slots = new Limiter(4);
  private queued = 0;
  private waiting: (() => void) | undefined;

  private readonly unfinished = new Set<() => void>();

  /** Remembers `p` for settle(), and its failure as the writer's error. */
  private track<T>(p: Promise<T>): Promise<T> {
    this.all.push(p.catch((e: unknown) => void (this.error ??= e)));
    return p;
  }

  /** Runs `op` after `after`, unless something already failed. */
  private step<T>(after: Promise<unknown>, op: () => Promise<T>): Promise<T> {
    return this.track(after.then(() => this.slots.run(() => (this.error === undefined ? op() : Promise.reject(this.error)))));
  }

  /** Runs `op` in `dir`'s lane: entries of one directory are created one at a time (the kernel
   *  serialises them anyway; more at once only spin), entries of different directories in parallel. */
  private inDir<T>(dir: Lane, op: () => Promise<T>): Promise<T> {
    const p = this.step(dir.tail, op);
    dir.tail = p.catch(() => {});
    return p;
  }

  mkdir(path: Buffer, parent: Lane): Lane & { made: Promise<void> } {
    const made = this.inDir(parent, () => call((cb) => mkdir(path, 0o700, (e) => cb(e, undefined))));
    return { made, tail: made };
  }

  symlink(target: Buffer, path: Buffer, dir: Lane): Promise<void> {
    // created, never followed: nothing is ever written through a path we did not just mkdir
    return this.inDir(dir, () => call((cb) => symlink(target, path, (e) => cb(e))));
  }

  /** Seals a directory once everything in it is done. */
  seal(path: Buffer, inside: Promise<unknown>[]): Promise<void> {
    return this.step(Promise.all(inside), async () => {
      await call((cb) => chmod(path, 0o555, (e) => cb(e)));
      await call((cb) => utimes(path, EPOCH_PLUS_ONE, EPOCH_PLUS_ONE, (e) => cb(e)));
    });
  }

  file(path: Buffer, executable: boolean, dir: Lane) {
    // 'wx': never through an existing entry (names are unique, so none should exist)
    const opened = this.inDir(dir, () => call<number>((cb) => open(path, 'wx', 0o600, cb)));
    let chain: Promise<unknown> = opened;
    let closed: Promise<void> | undefined;
    // the descriptor is closed once, whatever happened after it was opened
    const closeAfter = (last: Promise<unknown>) =>
      (closed ??= this.track(Promise.allSettled([opened, last]).then(([o]) => (o.status === 'fulfilled' ? call((cb) => close(o.value, (e) => cb(e))) : undefined))));
    const abandon = () => void closeAfter(chain);
    this.unfinished.add(abandon);
    const writeAll = async (fd: number, b: Buffer) => {
      for (let off = 0; off < b.length; ) off += await call<number>((cb) => write(fd, b, off, b.length - off, cb));
    };
    return {
      /** Queues a copy of `c` (the reader's views are only valid until its next read). */
      write: (c: Uint8Array): Promise<void> | undefined => {
        const b = Buffer.from(c);
        this.queued += b.length;
        chain = this.step(chain, () => opened.then((fd) => writeAll(fd, b))).finally(() => {
          this.queued -= b.length;
          if (this.queued <= MAX_QUEUED_BYTES / 2) this.waiting?.();
        });
        if (this.queued <= MAX_QUEUED_BYTES) return undefined;
        return new Promise<void>((r) => (this.waiting = r)).finally(() => (this.waiting = undefined));
      },
      end: (): Promise<void> => {
        this.unfinished.delete(abandon);
        const done = this.track(
          chain.then(async () => {
            const fd = await opened;
            await call((cb) => fchmod(fd, executable ? 0o555 : 0o444, (e) => cb(e)));
            await call((cb) => futimes(fd, EPOCH_PLUS_ONE, EPOCH_PLUS_ONE, (e) => cb(e)));
          }),
        );
        return Promise.all([done, closeAfter(done)]).then(() => {});
      },
    };
  }

  /** Closes the files a failed read left half-written. */
  abandon(): void {
    for (const a of this.unfinished) a();
    this.unfinished.clear();
  }

  /** Waits for every operation started so far (also after a failure, so nothing is created later). */
  async settle(): Promise<void> {
    for (let n = 0; n !== this.all.length; ) {
      n = this.all.length;
      await Promise.all(this.all);
    }
    this.waiting?.();
  }
}

export async function unpackNar(src: AsyncIterable<Uint8Array>, dest: string, opts: UnpackOptions): Promise<UnpackResult> {
  const r = ByteSource.from(src);
  const what = opts.what ?? 'NAR';
  const bad = (why: string) => new NarError(`${what}: malformed NAR at byte ${r.offset}: ${why}`);
  const result: UnpackResult = { size: 0, files: 0 };

  // `ahead`: bytes of the length word not consumed yet
  const limit = (v: bigint, max: number, label: string, ahead = 0): number => {
    const cap = Math.min(max, opts.narSize - r.offset - ahead);
    if (v > BigInt(cap)) throw bad(`${label} length ${v} is larger than allowed (${cap})`);
    return Number(v);
  };
  const len = async (max: number, label: string): Promise<number> => limit((await r.take(8)).readBigUInt64LE(0), max, label);
  const padding = async (n: number) => {
    const pad = (8 - (n % 8)) % 8;
    if (pad === 0) return;
    const p = await r.take(pad);
    if (p.some((x) => x !== 0)) throw bad('non-zero padding');
  };
  const slowBytes = async (max: number, label: string): Promise<Buffer> => {
    const n = await len(max, label);
    const b = await r.take(n);
    await padding(n);
    return b;
  };
  // Most strings sit whole inside the current chunk: read those without a promise per token.
  const fastBytes = (max: number, label: string): Uint8Array | undefined => {
    if (r.available() < 8) return undefined;
    const n = limit(r.peekU64(), max, label, 8);
    const pad = (8 - (n % 8)) % 8;
    if (r.available() < 8 + n + pad) return undefined;
    r.takeSync(8);
    const b = r.takeSync(n);
    const p = r.takeSync(pad);
    for (let i = 0; i < pad; i++) if (p[i] !== 0) throw bad('non-zero padding');
    return b;
  };
  const bytes = (max: number, label: string): Buffer | Promise<Buffer> => {
    const b = fastBytes(max, label);
    return b ? Buffer.from(b) : slowBytes(max, label);
  };
  const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
  const token = (): string | Promise<string> => {
    const b = fastBytes(TOKEN_MAX, 'token');
    return b ? latin1(b) : slowBytes(TOKEN_MAX, 'token').then(latin1);
  };
  const check = (s: string, t: string) => {
    if (s !== t) throw bad(`expected "${t}", got "${s.slice(0, 20)}"`);
  };
  const expect = (t: string): void | Promise<void> => {
    const b = fastBytes(TOKEN_MAX, 'token');
    if (b) return check(latin1(b), t);
    return slowBytes(TOKEN_MAX, 'token').then((x) => check(latin1(x), t));
  };

  const w = new TreeWriter();
  // a failed file system operation stops the reading too
  const healthy = () => {
    if (w.error !== undefined) throw w.error;
  };

  /** Each of these returns when its entry is read; the promise inside settles when it is on disk. */
  const regular = async (path: Buffer, root: boolean, ready: Lane): Promise<{ done: Promise<void> }> => {
    let tag = await token();
    let executable = false;
    if (tag === 'executable') {
      if ((await bytes(0, 'executable marker')).length !== 0) throw bad('executable marker must be empty');
      executable = true;
      tag = await token();
    }
    if (tag !== 'contents') throw bad(`expected "contents", got "${tag.slice(0, 20)}"`);
    const n = await len(Number.MAX_SAFE_INTEGER, 'file');
    const f = w.file(path, executable, ready);
    const h = root ? createHash('sha256') : undefined;
    for await (const c of r.chunks(n)) {
      h?.update(c);
      const full = f.write(c);
      if (full) await full;
      healthy();
    }
    const done = f.end();
    await padding(n);
    if (h) result.rootFileSha256 = h.digest();
    result.files++;
    return { done };
  };

  const symlink = async (path: Buffer, ready: Lane): Promise<{ done: Promise<void> }> => {
    await expect('target');
    const target = await bytes(TARGET_MAX, 'symlink target');
    if (target.length === 0 || target.includes(0)) throw bad('empty symlink target or NUL in it');
    return { done: w.symlink(target, path, ready) };
  };

  const directory = async (path: Buffer, depth: number, ready: Lane): Promise<{ done: Promise<void> }> => {
    if (depth > MAX_DEPTH) throw bad(`directories nested deeper than ${MAX_DEPTH}`);
    const dir = w.mkdir(path, ready);
    const inside: Promise<unknown>[] = [dir.made];
    let prev: Buffer | undefined;
    for (;;) {
      healthy();
      const tag = await token();
      if (tag === ')') break;
      if (tag !== 'entry') throw bad(`expected "entry" or ")", got "${tag.slice(0, 20)}"`);
      await expect('(');
      await expect('name');
      const name = await bytes(NAME_MAX, 'name');
      if (name.length === 0) throw bad('empty entry name');
      if (name.includes(SLASH) || name.includes(0)) throw bad(`entry name ${JSON.stringify(name.toString('latin1'))} contains "/" or NUL`);
      if (name.equals(Buffer.from('.')) || name.equals(Buffer.from('..'))) throw bad(`entry name "${name.toString()}"`);
      if (prev && Buffer.compare(prev, name) >= 0) {
        throw bad(prev.equals(name) ? `duplicate entry "${name.toString()}"` : `entry "${name.toString()}" is not sorted after "${prev.toString()}"`);
      }
      prev = name;
      await expect('node');
      inside.push((await node(Buffer.concat([path, Buffer.from('/'), name]), depth + 1, false, dir)).done);
      await expect(')');
    }
    return { done: w.seal(path, inside) };
  };

  const node = async (path: Buffer, depth: number, root: boolean, ready: Lane): Promise<{ done: Promise<void> }> => {
    await expect('(');
    await expect('type');
    const type = await token();
    let entry;
    if (type === 'regular') entry = await regular(path, root, ready);
    else if (type === 'symlink') entry = await symlink(path, ready);
    else if (type === 'directory') return directory(path, depth, ready);
    else throw bad(`unknown node type "${type.slice(0, 20)}"`);
    await expect(')');
    return entry;
  };

  try {
    await expect(NAR_MAGIC);
    const root = await node(Buffer.from(dest), 0, true, { tail: Promise.resolve() });
    if (!(await r.atEnd())) throw bad('trailing bytes after the archive');
    result.size = r.offset;
    if (result.size !== opts.narSize) throw bad(`archive is ${result.size} bytes, NarSize says ${opts.narSize}`);
    await w.settle();
    healthy();
    await root.done;
    return result;
  } catch (e) {
    await r.close().catch(() => {});
    // nothing may still be creating entries when the caller cleans up
    w.abandon();
    await w.settle();
    if (e instanceof TruncatedError) throw bad(`archive ends early (${e.message})`);
    throw e;
  }
}
