// Store path syntax (`/nix/store/<32 nix32 chars>-<name>`) and the content-addressed path
// computation Nix uses for `CA:` paths, so an unsigned CA path can be re-derived and trusted.
import { FloxError } from '../errors.js';
import { isNix32, nix32Encode } from './base32.js';
import { parseHash, sha256 } from './hash.js';

export const STORE_DIR = '/nix/store';
const HASH_LEN = 32;
const NAME_MAX = 211;
const NAME_CHARS = /^[A-Za-z0-9+\-._?=]+$/;

export interface StorePath {
  hash: string;
  name: string;
  /** `<hash>-<name>` */
  basename: string;
  /** `/nix/store/<hash>-<name>` */
  path: string;
}

/** Why `basename` is not a valid `<hash>-<name>`, or undefined when it is. */
export function storeBasenameError(basename: string): string | undefined {
  if (basename.length < HASH_LEN + 2 || basename[HASH_LEN] !== '-') return 'expected <32-char hash>-<name>';
  const hash = basename.slice(0, HASH_LEN);
  const name = basename.slice(HASH_LEN + 1);
  if (!isNix32(hash)) return `hash part "${hash}" is not nix32`;
  if (name.length > NAME_MAX) return `name is longer than ${NAME_MAX} characters`;
  if (!NAME_CHARS.test(name)) return `name "${name}" has characters outside [A-Za-z0-9+-._?=]`;
  // newer Nix refuses these too; they would also be hidden files on the node
  if (name.startsWith('.')) return `name "${name}" starts with a period`;
  return undefined;
}

export function parseStoreBasename(basename: string): StorePath {
  const err = storeBasenameError(basename);
  if (err) throw new FloxError('nix-format', `invalid store path name "${basename}": ${err}`);
  return {
    hash: basename.slice(0, HASH_LEN),
    name: basename.slice(HASH_LEN + 1),
    basename,
    path: `${STORE_DIR}/${basename}`,
  };
}

/** Parses `/nix/store/<hash>-<name>` exactly (no sub-path, no trailing slash). */
export function parseStorePath(p: string): StorePath {
  if (typeof p !== 'string' || !p.startsWith(`${STORE_DIR}/`)) {
    throw new FloxError('nix-format', `invalid store path "${String(p)}": must start with ${STORE_DIR}/`);
  }
  const basename = p.slice(STORE_DIR.length + 1);
  const err = storeBasenameError(basename);
  if (err) throw new FloxError('nix-format', `invalid store path "${p}": ${err}`);
  return { hash: basename.slice(0, HASH_LEN), name: basename.slice(HASH_LEN + 1), basename, path: p };
}

/** Nix's compressHash: XOR-folds a digest down to `size` bytes. */
export function compressHash(digest: Uint8Array, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < digest.length; i++) out[i % size]! ^= digest[i]!;
  return out;
}

/** makeStorePath(type, inner hash, name) as in Nix's store-api.cc */
export function makeStorePath(type: string, innerSha256: Buffer, name: string): string {
  const s = `${type}:sha256:${innerSha256.toString('hex')}:${STORE_DIR}:${name}`;
  return `${STORE_DIR}/${nix32Encode(compressHash(sha256(s), 20))}-${name}`;
}

export type ContentAddress =
  | { method: 'text'; hash: Buffer } // sha256 of the flat file contents
  | { method: 'recursive'; hash: Buffer } // sha256 of the NAR
  | { method: 'flat'; hash: Buffer }; // sha256 of the flat file contents

/** Parses a narinfo `CA:` value. Only sha256 is supported: other algorithms return undefined. */
export function parseContentAddress(ca: string): ContentAddress | undefined {
  let m = /^text:(sha256:.+)$/.exec(ca);
  if (m) return { method: 'text', hash: parseHash(m[1]!, 'sha256').digest };
  m = /^fixed:r:(sha256:.+)$/.exec(ca);
  if (m) return { method: 'recursive', hash: parseHash(m[1]!, 'sha256').digest };
  m = /^fixed:(sha256:.+)$/.exec(ca);
  if (m) return { method: 'flat', hash: parseHash(m[1]!, 'sha256').digest };
  if (/^(text|fixed):/.test(ca)) return undefined;
  throw new FloxError('nix-format', `invalid CA field "${ca}"`);
}

/** The store path a content address determines, given the path's name and references. */
export function contentAddressedPath(ca: ContentAddress, name: string, references: string[], self?: string): string {
  const others = references.filter((r) => r !== self).sort();
  const hasSelf = self !== undefined && references.includes(self);
  if (ca.method === 'text') {
    if (hasSelf) throw new FloxError('nix-format', `text CA path ${name} cannot refer to itself`);
    return makeStorePath(['text', ...others].join(':'), ca.hash, name);
  }
  if (ca.method === 'recursive') {
    return makeStorePath(['source', ...others, ...(hasSelf ? ['self'] : [])].join(':'), ca.hash, name);
  }
  if (others.length || hasSelf) throw new FloxError('nix-format', `flat fixed-output path ${name} cannot have references`);
  return makeStorePath('output:out', sha256(`fixed:out:sha256:${ca.hash.toString('hex')}:`), name);
}
