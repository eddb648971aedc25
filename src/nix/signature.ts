// ed25519 narinfo signatures, verified with Node's crypto against trusted public keys.
import { type KeyObject, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { FloxError } from '../errors.js';
import { type NarInfo, fingerprint } from './narinfo.js';

export interface PublicKey {
  name: string;
  key: KeyObject;
}

function splitKey(s: string, what: string, bytes: number): { name: string; raw: Buffer } {
  const i = s.indexOf(':');
  const name = s.slice(0, i);
  const b64 = s.slice(i + 1);
  const raw = Buffer.from(b64, 'base64');
  if (i <= 0 || raw.length !== bytes || raw.toString('base64') !== b64) {
    throw new FloxError('nix-format', `invalid ${what} "${s.slice(0, 60)}": expected name:base64(${bytes} bytes)`);
  }
  return { name, raw };
}

export function parsePublicKey(s: string): PublicKey {
  const { name, raw } = splitKey(s.trim(), 'public key', 32);
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  return { name, key };
}

/** Names of the trusted keys that validly signed this narinfo (several `Sig:` lines allowed). */
export function validSigners(info: NarInfo, keys: PublicKey[]): string[] {
  const fp = Buffer.from(fingerprint(info));
  const ok = new Set<string>();
  for (const sig of info.sigs) {
    const i = sig.indexOf(':');
    if (i <= 0) continue;
    const name = sig.slice(0, i);
    const raw = Buffer.from(sig.slice(i + 1), 'base64');
    if (raw.length !== 64) continue;
    for (const k of keys) if (k.name === name && verify(null, fp, k.key, raw)) ok.add(name);
  }
  return [...ok];
}

/** Signs a fingerprint with a Nix secret key `name:base64(seed32 ‖ pub32)` (tests and tooling). */
export function signFingerprint(fp: string, secretKey: string): string {
  const { name, raw } = splitKey(secretKey.trim(), 'secret key', 64);
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: raw.subarray(0, 32).toString('base64url'), x: raw.subarray(32).toString('base64url') },
    format: 'jwk',
  });
  return `${name}:${sign(null, Buffer.from(fp), key).toString('base64')}`;
}
