// The hash notations that appear in narinfo files and CA fields: `sha256:<nix32>` (what Nix
// writes), `sha256:<base16>` and SRI `sha256-<base64>` (what newer Nix also accepts).
import { createHash } from 'node:crypto';
import { FloxError } from '../errors.js';
import { nix32Decode, nix32Encode, nix32Length } from './base32.js';

export type HashAlgo = 'md5' | 'sha1' | 'sha256' | 'sha512';
const SIZES: Record<HashAlgo, number> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };

export interface Hash {
  algo: HashAlgo;
  digest: Buffer;
}

function isAlgo(s: string): s is HashAlgo {
  return Object.hasOwn(SIZES, s);
}

export function parseHash(text: string, expectAlgo?: HashAlgo): Hash {
  const bad = (why: string) => new FloxError('nix-format', `invalid hash "${text}": ${why}`);
  const sri = /^([a-z0-9]+)-([A-Za-z0-9+/]+={0,2})$/.exec(text);
  const colon = /^([a-z0-9]+):([A-Za-z0-9]+)$/.exec(text);
  const m = sri ?? colon;
  if (!m) throw bad('expected <algo>:<digest> or <algo>-<base64>');
  const algo = m[1]!;
  if (!isAlgo(algo)) throw bad(`unsupported algorithm ${algo}`);
  if (expectAlgo && algo !== expectAlgo) throw bad(`expected ${expectAlgo}`);
  const size = SIZES[algo];
  const body = m[2]!;
  let digest: Buffer;
  if (sri) {
    digest = Buffer.from(body, 'base64');
    if (digest.length !== size || digest.toString('base64') !== body) throw bad('bad base64 digest length');
  } else if (body.length === size * 2 && /^[0-9a-f]+$/.test(body)) {
    digest = Buffer.from(body, 'hex');
  } else if (body.length === nix32Length(size)) {
    digest = nix32Decode(body, size);
  } else {
    throw bad(`digest length ${body.length} fits neither base16 nor nix32 for ${algo}`);
  }
  return { algo, digest };
}

/** The form Nix writes in narinfo files and fingerprints. */
export function formatNix32(h: Hash): string {
  return `${h.algo}:${nix32Encode(h.digest)}`;
}

export function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}
