// Builds NARs token by token, so tests can write valid archives and every kind of hostile one.
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export function str(b: Uint8Array | string, opts: { len?: bigint; pad?: number } = {}): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b) : Buffer.from(b);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(opts.len ?? BigInt(body.length));
  const pad = Buffer.alloc((8 - (body.length % 8)) % 8, opts.pad ?? 0);
  return Buffer.concat([len, body, pad]);
}
export const strs = (...tokens: (string | Buffer)[]) => Buffer.concat(tokens.map((t) => str(t)));

export type Tree =
  | { type: 'regular'; contents: string | Buffer; executable?: boolean }
  | { type: 'symlink'; target: string }
  | { type: 'directory'; entries: [string | Buffer, Tree][] };

export function node(t: Tree): Buffer {
  if (t.type === 'regular') {
    return Buffer.concat([strs('(', 'type', 'regular'), t.executable ? strs('executable', '') : Buffer.alloc(0), strs('contents'), str(t.contents), strs(')')]);
  }
  if (t.type === 'symlink') return strs('(', 'type', 'symlink', 'target', t.target, ')');
  return Buffer.concat([
    strs('(', 'type', 'directory'),
    ...t.entries.map(([name, child]) => Buffer.concat([strs('entry', '(', 'name', name as string, 'node'), node(child), strs(')')])),
    strs(')'),
  ]);
}

export function nar(t: Tree): Buffer {
  return Buffer.concat([str('nix-archive-1'), node(t)]);
}

/** Serialises a tree on disk like `nix-store --dump`. */
export function dumpPath(p: string): Buffer {
  const rec = (p: string): Tree => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return { type: 'symlink', target: readlinkSync(p) };
    if (st.isFile()) return { type: 'regular', contents: readFileSync(p), executable: (st.mode & 0o100) !== 0 };
    const names = readdirSync(p, { encoding: 'buffer' }).sort(Buffer.compare);
    return { type: 'directory', entries: names.map((n) => [n, rec(join(p, n.toString()))]) };
  };
  return nar(rec(p));
}

/** Splits a buffer into chunks of `size` (streaming edge cases). */
export async function* chunked(b: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
