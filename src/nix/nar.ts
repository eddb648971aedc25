// Streaming NAR (Nix ARchive) reader that writes the tree to disk as it goes. Every rule of the
// format is enforced because the input is untrusted until its NarHash is known to match: names
// must be plain single components, entries strictly sorted, padding zero, lengths bounded by
// what is left of NarSize, and nothing may follow the root node.
//
// The reader is a synchronous state machine fed one chunk at a time: a NAR is mostly tokens of
// a few bytes, and a promise per token made unpacking a tree of symlinks cost more than
// decompressing it. Only an item cut by a chunk boundary waits (in `carry`) for the next chunk;
// file contents go straight from the chunk to disk.
import { type Hash, createHash } from 'node:crypto';
import { chmodSync, closeSync, fchmodSync, futimesSync, mkdirSync, openSync, symlinkSync, utimesSync, writeSync } from 'node:fs';
import { FloxError } from '../errors.js';

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
const tok = (s: string) => Buffer.from(s, 'latin1');
const T = {
  magic: tok(NAR_MAGIC),
  open: tok('('),
  close: tok(')'),
  type: tok('type'),
  regular: tok('regular'),
  symlink: tok('symlink'),
  directory: tok('directory'),
  executable: tok('executable'),
  contents: tok('contents'),
  target: tok('target'),
  entry: tok('entry'),
  name: tok('name'),
  node: tok('node'),
};
const DOT = tok('.');
const DOTDOT = tok('..');

// What the next item is. Each state consumes exactly one item (a string, a length word, a run
// of contents or the padding after them), so a state cut short simply runs again.
const MAGIC = 0;
const OPEN = 1;
const TYPE_KW = 2;
const TYPE = 3;
const REG_TAG = 4;
const EXEC_MARK = 5;
const CONTENTS_KW = 6;
const CONTENTS_LEN = 7;
const CONTENTS = 8;
const CONTENTS_PAD = 9;
const TARGET_KW = 10;
const TARGET = 11;
const CLOSE = 12;
const DIR_TAG = 13;
const ENTRY_OPEN = 14;
const NAME_KW = 15;
const NAME = 16;
const NODE_KW = 17;
const ENTRY_CLOSE = 18;
const END = 19;

interface Dir {
  path: Buffer;
  depth: number;
  /** the previous entry's name: entries must be strictly sorted */
  prev?: Buffer;
}

const equal = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};
const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');

/** Unpacks one NAR into `dest` (which must not exist), chunk by chunk. */
export class NarUnpacker {
  private state = MAGIC;
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  /** the start of an item that the last chunk cut short */
  private carry: Uint8Array | undefined;
  /** bytes of NAR consumed */
  private consumed = 0;
  private readonly dirs: Dir[] = [];
  private nodePath: Buffer;
  private nodeDepth = 0;
  private fd: number | undefined;
  private executable = false;
  private left = 0;
  private pad = 0;
  private hash: Hash | undefined;
  private readonly result: UnpackResult = { size: 0, files: 0 };
  private readonly what: string;

  constructor(
    dest: string,
    private readonly opts: UnpackOptions,
  ) {
    this.nodePath = Buffer.from(dest);
    this.what = opts.what ?? 'NAR';
  }

  push(chunk: Uint8Array): void {
    if (this.carry) {
      this.buf = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    } else {
      this.buf = chunk;
    }
    this.pos = 0;
    while (this.pos < this.buf.length) {
      if (!this.step()) {
        // copied: the producer owns its chunk once we return
        this.carry = Uint8Array.prototype.slice.call(this.buf, this.pos);
        return;
      }
    }
  }

  /** After the last chunk: the archive must be complete and exactly NarSize long. */
  finish(): UnpackResult {
    if (this.state !== END) {
      throw this.bad(`archive ends early (unexpected end of data at byte ${this.consumed + (this.carry?.length ?? 0)})`);
    }
    this.result.size = this.consumed;
    if (this.consumed !== this.opts.narSize) throw this.bad(`archive is ${this.consumed} bytes, NarSize says ${this.opts.narSize}`);
    return this.result;
  }

  /** Releases what a failed unpack holds open (the tree itself is the caller's to remove). */
  abort(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private bad(why: string): NarError {
    return new NarError(`${this.what}: malformed NAR at byte ${this.consumed}: ${why}`);
  }

  /** Runs the current state on the bytes at hand; false when it needs more. */
  private step(): boolean {
    switch (this.state) {
      case MAGIC:
        return this.expect(T.magic, OPEN);
      case OPEN:
        return this.expect(T.open, TYPE_KW);
      case TYPE_KW:
        return this.expect(T.type, TYPE);
      case TYPE: {
        const t = this.str(TOKEN_MAX, 'token');
        if (!t) return false;
        if (equal(t, T.regular)) {
          this.executable = false;
          this.state = REG_TAG;
        } else if (equal(t, T.symlink)) {
          this.state = TARGET_KW;
        } else if (equal(t, T.directory)) {
          this.startDirectory();
        } else {
          throw this.bad(`unknown node type "${latin1(t).slice(0, 20)}"`);
        }
        return true;
      }
      case REG_TAG: {
        const t = this.str(TOKEN_MAX, 'token');
        if (!t) return false;
        if (equal(t, T.executable)) this.state = EXEC_MARK;
        else if (equal(t, T.contents)) this.state = CONTENTS_LEN;
        else throw this.bad(`expected "contents", got "${latin1(t).slice(0, 20)}"`);
        return true;
      }
      case EXEC_MARK:
        if (!this.str(0, 'executable marker')) return false;
        this.executable = true;
        this.state = CONTENTS_KW;
        return true;
      case CONTENTS_KW:
        return this.expect(T.contents, CONTENTS_LEN);
      case CONTENTS_LEN:
        return this.startFile();
      case CONTENTS:
        this.contents();
        return true;
      case CONTENTS_PAD:
        return this.endFile();
      case TARGET_KW:
        return this.expect(T.target, TARGET);
      case TARGET: {
        const target = this.str(TARGET_MAX, 'symlink target');
        if (!target) return false;
        if (target.length === 0 || target.includes(0)) throw this.bad('empty symlink target or NUL in it');
        // created, never followed: nothing is ever written through a path we did not just mkdir
        symlinkSync(Buffer.from(target.buffer, target.byteOffset, target.length), this.nodePath);
        this.state = CLOSE;
        return true;
      }
      case CLOSE:
        if (!this.expect(T.close, CLOSE)) return false;
        this.nodeDone();
        return true;
      case DIR_TAG: {
        const t = this.str(TOKEN_MAX, 'token');
        if (!t) return false;
        if (equal(t, T.entry)) {
          this.state = ENTRY_OPEN;
        } else if (equal(t, T.close)) {
          const dir = this.dirs.pop()!;
          chmodSync(dir.path, 0o555);
          utimesSync(dir.path, EPOCH_PLUS_ONE, EPOCH_PLUS_ONE);
          this.nodeDone();
        } else {
          throw this.bad(`expected "entry" or ")", got "${latin1(t).slice(0, 20)}"`);
        }
        return true;
      }
      case ENTRY_OPEN:
        return this.expect(T.open, NAME_KW);
      case NAME_KW:
        return this.expect(T.name, NAME);
      case NAME:
        return this.entryName();
      case NODE_KW:
        return this.expect(T.node, OPEN);
      case ENTRY_CLOSE:
        return this.expect(T.close, DIR_TAG);
      default:
        throw this.bad('trailing bytes after the archive');
    }
  }

  /** A length word at `p` (8 bytes, little endian), checked against `max` and what is left of NarSize. */
  private length(p: number, max: number, label: string): number {
    const b = this.buf;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
    const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16)) + b[p + 7]! * 0x1000000;
    // exact below 2^53; anything larger is over every cap anyway
    const v = hi * 0x100000000 + lo;
    const cap = Math.min(max, this.opts.narSize - this.consumed - 8);
    if (v > cap) {
      const exact = (BigInt(hi) << 32n) | BigInt(lo);
      throw this.bad(`${label} length ${exact} is larger than allowed (${cap})`);
    }
    return v;
  }

  /** A whole string item (length, bytes, zero padding) as a view, or undefined until it is all here. */
  private str(max: number, label: string): Uint8Array | undefined {
    const b = this.buf;
    const p = this.pos;
    const avail = b.length - p;
    if (avail < 8) return undefined;
    const n = this.length(p, max, label);
    const end = p + 8 + n;
    const padEnd = end + ((8 - (n % 8)) % 8);
    if (b.length < padEnd) return undefined;
    for (let i = end; i < padEnd; i++) {
      if (b[i] !== 0) {
        this.consumed += padEnd - p;
        throw this.bad('non-zero padding');
      }
    }
    this.pos = padEnd;
    this.consumed += padEnd - p;
    return b.subarray(p + 8, end);
  }

  private expect(token: Uint8Array, next: number): boolean {
    const t = this.str(TOKEN_MAX, 'token');
    if (!t) return false;
    if (!equal(t, token)) throw this.bad(`expected "${latin1(token)}", got "${latin1(t).slice(0, 20)}"`);
    this.state = next;
    return true;
  }

  private nodeDone(): void {
    this.state = this.dirs.length ? ENTRY_CLOSE : END;
  }

  private startDirectory(): void {
    if (this.nodeDepth > MAX_DEPTH) throw this.bad(`directories nested deeper than ${MAX_DEPTH}`);
    mkdirSync(this.nodePath, 0o700);
    this.dirs.push({ path: this.nodePath, depth: this.nodeDepth });
    this.state = DIR_TAG;
  }

  private entryName(): boolean {
    const name = this.str(NAME_MAX, 'name');
    if (!name) return false;
    if (name.length === 0) throw this.bad('empty entry name');
    if (name.includes(SLASH) || name.includes(0)) throw this.bad(`entry name ${JSON.stringify(latin1(name))} contains "/" or NUL`);
    if (equal(name, DOT) || equal(name, DOTDOT)) throw this.bad(`entry name "${latin1(name)}"`);
    const dir = this.dirs[this.dirs.length - 1]!;
    if (dir.prev) {
      const order = Buffer.compare(dir.prev, name);
      if (order === 0) throw this.bad(`duplicate entry "${Buffer.from(name).toString()}"`);
      if (order > 0) throw this.bad(`entry "${Buffer.from(name).toString()}" is not sorted after "${dir.prev.toString()}"`);
    }
    const path = Buffer.allocUnsafe(dir.path.length + 1 + name.length);
    path.set(dir.path, 0);
    path[dir.path.length] = SLASH;
    path.set(name, dir.path.length + 1);
    dir.prev = path.subarray(dir.path.length + 1);
    this.nodePath = path;
    this.nodeDepth = dir.depth + 1;
    this.state = NODE_KW;
    return true;
  }

  private startFile(): boolean {
    if (this.buf.length - this.pos < 8) return false;
    const n = this.length(this.pos, Number.MAX_SAFE_INTEGER, 'file');
    this.pos += 8;
    this.consumed += 8;
    this.fd = openSync(this.nodePath, 'wx', 0o600);
    this.hash = this.dirs.length === 0 ? createHash('sha256') : undefined;
    this.left = n;
    this.pad = (8 - (n % 8)) % 8;
    this.state = n > 0 ? CONTENTS : CONTENTS_PAD;
    return true;
  }

  private contents(): void {
    const k = Math.min(this.left, this.buf.length - this.pos);
    const piece = this.buf.subarray(this.pos, this.pos + k);
    this.hash?.update(piece);
    for (let off = 0; off < k; ) off += writeSync(this.fd!, piece, off, k - off);
    this.pos += k;
    this.consumed += k;
    this.left -= k;
    if (this.left === 0) this.state = CONTENTS_PAD;
  }

  private endFile(): boolean {
    const b = this.buf;
    const p = this.pos;
    if (b.length - p < this.pad) return false;
    this.pos += this.pad;
    this.consumed += this.pad;
    for (let i = p; i < this.pos; i++) if (b[i] !== 0) throw this.bad('non-zero padding');
    const fd = this.fd!;
    this.fd = undefined;
    try {
      fchmodSync(fd, this.executable ? 0o555 : 0o444);
      futimesSync(fd, EPOCH_PLUS_ONE, EPOCH_PLUS_ONE);
    } finally {
      closeSync(fd);
    }
    if (this.hash) this.result.rootFileSha256 = this.hash.digest();
    this.result.files++;
    this.state = CLOSE;
    return true;
  }
}

export async function unpackNar(src: AsyncIterable<Uint8Array>, dest: string, opts: UnpackOptions): Promise<UnpackResult> {
  const unpacker = new NarUnpacker(dest, opts);
  const it = src[Symbol.asyncIterator]();
  try {
    for (let r = await it.next(); !r.done; r = await it.next()) unpacker.push(r.value);
    return unpacker.finish();
  } catch (e) {
    unpacker.abort();
    // stop the upstream (e.g. cancel an HTTP body): nothing after a bad byte is wanted
    await it.return?.()?.catch(() => {});
    throw e;
  }
}
