// Nix's own base-32 ("nix32"): not RFC 4648. The alphabet omits e, o, u and t, and the
// *last* character encodes the low bits of byte 0.
import { FloxError } from '../errors.js';

export const NIX32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';
const DIGIT = new Map([...NIX32_ALPHABET].map((c, i) => [c, i]));

export function nix32Length(bytes: number): number {
  return Math.ceil((bytes * 8) / 5);
}

export function nix32Encode(bytes: Uint8Array): string {
  let s = '';
  for (let n = nix32Length(bytes.length) - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const hi = i + 1 < bytes.length ? bytes[i + 1]! << (8 - j) : 0;
    s += NIX32_ALPHABET[((bytes[i]! >> j) | hi) & 0x1f];
  }
  return s;
}

/** Decodes `s` into `bytes` bytes; rejects foreign characters and bits that do not fit. */
export function nix32Decode(s: string, bytes = Math.floor((s.length * 5) / 8)): Buffer {
  if (s.length !== nix32Length(bytes)) {
    throw new FloxError('nix-format', `nix32 string "${s}" has length ${s.length}, expected ${nix32Length(bytes)}`);
  }
  const out = Buffer.alloc(bytes);
  for (let n = 0; n < s.length; n++) {
    const c = s[s.length - n - 1]!;
    const digit = DIGIT.get(c);
    if (digit === undefined) throw new FloxError('nix-format', `invalid character "${c}" in nix32 string "${s}"`);
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i]! |= (digit << j) & 0xff;
    const carry = digit >> (8 - j);
    if (i + 1 < bytes) out[i + 1]! |= carry;
    else if (carry) throw new FloxError('nix-format', `nix32 string "${s}" does not fit in ${bytes} bytes`);
  }
  return out;
}

export function isNix32(s: string): boolean {
  for (const c of s) if (!DIGIT.has(c)) return false;
  return true;
}
