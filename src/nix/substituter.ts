// A binary cache: its nix-cache-info, and narinfo lookups that are checked for the right store
// path and for trust (a valid signature from a trusted key, or a CA field that re-derives it).
import { FloxError } from '../errors.js';
import { type FetchOptions, HttpStatusError, type RetryOptions, getText, withRetry } from './http.js';
import { type CacheInfo, type NarInfo, parseCacheInfo, parseNarInfo } from './narinfo.js';
import { type PublicKey, validSigners } from './signature.js';
import { STORE_DIR, contentAddressedPath, parseContentAddress, parseStorePath } from './store-path.js';

export interface Substituter {
  url: string;
  info: CacheInfo;
}

export function normaliseSubstituterUrl(url: string): string {
  const u = new URL(url);
  if (!['http:', 'https:', 'file:'].includes(u.protocol)) {
    throw new FloxError('config', `substituter ${url}: only http(s):// and file:// are supported`);
  }
  return url.replace(/\/+$/, '');
}

export async function openSubstituter(url: string, fetchOpts: FetchOptions, retry: RetryOptions): Promise<Substituter> {
  const text = await withRetry(() => getText(`${url}/nix-cache-info`, fetchOpts), retry);
  if (text === undefined) throw new FloxError('nix-fetch', `substituter ${url} has no nix-cache-info: is it a Nix binary cache?`);
  const info = parseCacheInfo(text, `${url}/nix-cache-info`);
  if (info.storeDir !== STORE_DIR) {
    throw new FloxError('nix-fetch', `substituter ${url} serves store ${info.storeDir}, not ${STORE_DIR}`);
  }
  return { url, info };
}

/** How a narinfo earned our trust. */
export type Trust = { kind: 'signature'; keys: string[] } | { kind: 'content-address' };

export interface TrustedNarInfo {
  info: NarInfo;
  trust: Trust;
  substituter: string;
}

export async function fetchNarInfo(cacheUrl: string, storePath: string, fetchOpts: FetchOptions, retry: RetryOptions): Promise<NarInfo | undefined> {
  const { hash } = parseStorePath(storePath);
  const url = `${cacheUrl}/${hash}.narinfo`;
  let text: string | undefined;
  try {
    text = await withRetry(() => getText(url, fetchOpts), retry);
  } catch (e) {
    if (e instanceof HttpStatusError) throw new FloxError('nix-fetch', `cannot fetch ${url} for ${storePath}: HTTP ${e.status}`, { cause: e });
    throw e;
  }
  if (text === undefined) return undefined;
  const info = parseNarInfo(text, url);
  if (info.storePath !== storePath) {
    throw new FloxError('nix-format', `${url} describes ${info.storePath}, not ${storePath}`);
  }
  return info;
}

/** Signature first; a CA path without one is trusted when its CA field re-derives its path. */
export function trustOf(info: NarInfo, keys: PublicKey[]): Trust | undefined {
  const signers = validSigners(info, keys);
  if (signers.length) return { kind: 'signature', keys: signers };
  if (info.ca) {
    const ca = parseContentAddress(info.ca);
    if (!ca) return undefined;
    if (ca.method === 'recursive' && !ca.hash.equals(info.narHash.digest)) return undefined;
    const { name } = parseStorePath(info.storePath);
    const refs = info.references.map((r) => `${STORE_DIR}/${r}`);
    try {
      if (contentAddressedPath(ca, name, refs, info.storePath) === info.storePath) return { kind: 'content-address' };
    } catch {
      return undefined;
    }
  }
  return undefined;
}
