// Streaming NAR (Nix ARchive) reader that writes the tree to disk as it goes. Every rule of the
// format is enforced because the input is untrusted until its NarHash is known to match: names
// must be plain single components, entries strictly sorted, padding zero, lengths bounded by
// what is left of NarSize, and nothing may follow the root node.
import { closeSync, fchmodSync, futimesSync, mkdirSync, openSync, symlinkSync, utimesSync, writeSync, chmodSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { FloxError } from '../errors.js';
import { ByteSource, TruncatedError } from './byte-source.js';

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

  const regular = async (path: Buffer, root: boolean) => {
    let tag = await token();
    let executable = false;
    if (tag === 'executable') {
      if ((await bytes(0, 'executable marker')).length !== 0) throw bad('executable marker must be empty');
      executable = true;
      tag = await token();
    }
    if (tag !== 'contents') throw bad(`expected "contents", got "${tag.slice(0, 20)}"`);
    const n = await len(Number.MAX_SAFE_INTEGER, 'file');
    const fd = openSync(path, 'wx', 0o600);
    const h = root ? createHash('sha256') : undefined;
    try {
      for await (const c of r.chunks(n)) {
        h?.update(c);
        for (let off = 0; off < c.length; ) off += writeSync(fd, c, off, c.length - off);
      }
      fchmodSync(fd, executable ? 0o555 : 0o444);
      futimesSync(fd, EPOCH_PLUS_ONE, EPOCH_PLUS_ONE);
    } finally {
      closeSync(fd);
    }
    await padding(n);
    if (h) result.rootFileSha256 = h.digest();
    result.files++;
  };

  const symlink = async (path: Buffer) => {
    await expect('target');
    const target = await bytes(TARGET_MAX, 'symlink target');
    if (target.length === 0 || target.includes(0)) throw bad('empty symlink target or NUL in it');
    // created, never followed: nothing is ever written through a path we did not just mkdir
    symlinkSync(target, path);
  };

  const directory = async (path: Buffer, depth: number) => {
    if (depth > MAX_DEPTH) throw bad(`directories nested deeper than ${MAX_DEPTH}`);
    mkdirSync(path, 0o700);
    let prev: Buffer | undefined;
    for (;;) {
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
      await node(Buffer.concat([path, Buffer.from('/'), name]), depth + 1, false);
      await expect(')');
    }
    chmodSync(path, 0o555);
    utimesSync(path, EPOCH_PLUS_ONE, EPOCH_PLUS_ONE);
  };

  const node = async (path: Buffer, depth: number, root: boolean): Promise<void> => {
    await expect('(');
    await expect('type');
    const type = await token();
    if (type === 'regular') await regular(path, root);
    else if (type === 'symlink') await symlink(path);
    else if (type === 'directory') return directory(path, depth);
    else throw bad(`unknown node type "${type.slice(0, 20)}"`);
    await expect(')');
  };

  try {
    await expect(NAR_MAGIC);
    await node(Buffer.from(dest), 0, true);
    if (!(await r.atEnd())) throw bad('trailing bytes after the archive');
    result.size = r.offset;
    if (result.size !== opts.narSize) throw bad(`archive is ${result.size} bytes, NarSize says ${opts.narSize}`);
    return result;
  } catch (e) {
    await r.close().catch(() => {});
    if (e instanceof TruncatedError) throw bad(`archive ends early (${e.message})`);
    throw e;
  }
}
