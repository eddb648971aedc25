// narinfo: the signed per-path metadata a binary cache serves at /<hash>.narinfo.
import { z } from 'zod';
import { FloxError } from '../errors.js';
import { type Hash, formatNix32, parseHash } from './hash.js';
import { STORE_DIR, parseStoreBasename, parseStorePath } from './store-path.js';

export const COMPRESSIONS = ['xz', 'zstd', 'bzip2', 'br', 'gzip', 'none', 'lz4', 'lzip'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export interface NarInfo {
  storePath: string;
  url: string;
  /** absent in the file means bzip2, as in Nix */
  compression: Compression;
  fileHash?: Hash;
  fileSize?: number;
  narHash: Hash;
  narSize: number;
  /** basenames, in file order */
  references: string[];
  deriver?: string;
  system?: string;
  /** raw `name:base64` values of every `Sig:` line */
  sigs: string[];
  ca?: string;
}

const SINGLE = new Set(['StorePath', 'URL', 'Compression', 'FileHash', 'FileSize', 'NarHash', 'NarSize', 'References', 'Deriver', 'System', 'CA']);
const size = z.string().regex(/^(0|[1-9][0-9]{0,15})$/).transform(Number).refine(Number.isSafeInteger);
// relative to the cache root; no way out of it
const narUrl = z
  .string()
  .regex(/^[A-Za-z0-9._+\-/]+$/)
  .refine((u) => !u.startsWith('/') && !u.split('/').some((s) => s === '..' || s === '.' || s === ''), 'must be a relative path inside the cache');

// Errors name the field and its line, never its content: the body is the server's, and an
// error reaches the pod's owner (kubectl describe), who must not read what a server sent.
export function parseNarInfo(text: string, where = 'narinfo'): NarInfo {
  const fields = new Map<string, string>();
  const lineOf = new Map<string, number>();
  const sigs: string[] = [];
  const fail = (why: string): never => {
    throw new FloxError('nix-format', `${where}: ${why}`);
  };
  for (const [n, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const i = line.indexOf(': ');
    // "References: " has a trailing space that may have been stripped by a proxy
    const [k, v] = i < 0 && line.endsWith(':') ? [line.slice(0, -1), ''] : [line.slice(0, i), line.slice(i + 2)];
    if (i < 0 && !line.endsWith(':')) fail(`malformed line ${n + 1} (no "key: value")`);
    if (k === 'Sig') sigs.push(v);
    else if (SINGLE.has(k)) {
      if (fields.has(k)) fail(`duplicate field ${k} (line ${n + 1})`);
      fields.set(k, v);
      lineOf.set(k, n + 1);
    } // unknown keys are ignored, as Nix does
  }
  const need = (k: string) => fields.get(k) ?? fail(`missing field ${k}`);
  const bad = (k: string, why?: string): never => fail(`bad ${k} (line ${lineOf.get(k)})${why ? `: ${why}` : ''}`);
  const parse = <T>(k: string, schema: z.ZodType<T, z.ZodTypeDef, string>, v: string): T => {
    const r = schema.safeParse(v);
    return r.success ? r.data : bad(k);
  };
  // the value parsers quote what they were given: their messages stay inside
  const field = <T>(k: string, f: (v: string) => T): T => {
    const v = need(k);
    try {
      return f(v);
    } catch (e) {
      if (e instanceof FloxError) return bad(k);
      throw e;
    }
  };
  const storePath = field('StorePath', (v) => parseStorePath(v).path);
  const compression = fields.get('Compression') ?? 'bzip2';
  if (!(COMPRESSIONS as readonly string[]).includes(compression)) bad('Compression', `not one of ${COMPRESSIONS.join(', ')}`);
  const refsText = fields.get('References') ?? '';
  const references = refsText.split(' ').filter(Boolean);
  if (references.length) field('References', () => references.forEach((r) => parseStoreBasename(r)));
  const deriver = fields.get('Deriver');
  const info: NarInfo = {
    storePath,
    url: parse('URL', narUrl, need('URL')),
    compression: compression as Compression,
    narHash: field('NarHash', (v) => parseHash(v)),
    narSize: parse('NarSize', size, need('NarSize')),
    references,
    sigs,
  };
  if (fields.has('FileHash')) info.fileHash = field('FileHash', (v) => parseHash(v));
  if (fields.has('FileSize')) info.fileSize = parse('FileSize', size, fields.get('FileSize')!);
  if (deriver !== undefined && deriver !== 'unknown-deriver') info.deriver = field('Deriver', (v) => parseStoreBasename(v).basename);
  if (fields.has('System')) info.system = fields.get('System')!;
  if (fields.has('CA') && fields.get('CA') !== '') info.ca = fields.get('CA')!;
  if (info.narHash.algo !== 'sha256') fail(`NarHash must be sha256`);
  return info;
}

/** What a narinfo signature covers: `1;<path>;<narHash nix32>;<narSize>;<refs,…>` */
export function fingerprint(info: Pick<NarInfo, 'storePath' | 'narHash' | 'narSize' | 'references'>): string {
  const refs = info.references.map((r) => `${STORE_DIR}/${r}`).sort();
  return `1;${info.storePath};${formatNix32(info.narHash)};${info.narSize};${refs.join(',')}`;
}

export interface CacheInfo {
  storeDir: string;
  wantMassQuery: boolean;
  /** lower is preferred; Nix's default is 50 */
  priority: number;
}

export function parseCacheInfo(text: string, where = 'nix-cache-info'): CacheInfo {
  const info: CacheInfo = { storeDir: '', wantMassQuery: false, priority: 50 };
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const k = line.slice(0, i).trim();
    const v = line.slice(i + 1).trim();
    if (k === 'StoreDir') info.storeDir = v;
    else if (k === 'WantMassQuery') info.wantMassQuery = v === '1';
    else if (k === 'Priority') {
      if (!/^[0-9]{1,6}$/.test(v)) throw new FloxError('nix-format', `${where}: bad Priority (not a number up to 6 digits)`);
      info.priority = Number(v);
    }
  }
  if (!info.storeDir) throw new FloxError('nix-format', `${where}: missing StoreDir`);
  return info;
}
