// manifest.lock (lockfile-version 1): one package entry per (install_id, system), an untagged
// union of catalog, flake and store-path entries as flox's lockfile module writes them.
import { z } from 'zod';
import { issues } from './metadata.js';
import { type Manifest, ManifestError, validateManifest } from './manifest.js';

const StorePath = z.string().regex(/^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/, 'not a /nix/store path');
const Outputs = z.record(z.string().regex(/^[A-Za-z0-9_+-]+$/), StorePath);

const Catalog = z
  .object({
    install_id: z.string().min(1),
    system: z.string(),
    outputs: Outputs,
    outputs_to_install: z.array(z.string()).nullish(),
    priority: z.number().int().min(0).default(5),
    name: z.string().optional(),
    pname: z.string().optional(),
    version: z.string().nullish(),
    attr_path: z.string(),
  })
  .passthrough()
  .transform((e) => ({ kind: 'catalog' as const, installId: e.install_id, system: e.system, outputs: e.outputs, outputsToInstall: e.outputs_to_install ?? undefined, priority: e.priority, name: e.name ?? e.pname ?? e.install_id }));

const Flake = z
  .object({
    install_id: z.string().min(1),
    system: z.string(),
    outputs: Outputs,
    'outputs-to-install': z.array(z.string()).nullish(),
    'locked-url': z.string(),
    priority: z.number().int().min(0).default(5),
    name: z.string().optional(),
  })
  .passthrough()
  .transform((e) => ({ kind: 'flake' as const, installId: e.install_id, system: e.system, outputs: e.outputs, outputsToInstall: e['outputs-to-install'] ?? undefined, priority: e.priority, name: e.name ?? e.install_id }));

const StorePathEntry = z
  .object({
    install_id: z.string().min(1),
    system: z.string(),
    store_path: StorePath,
    priority: z.number().int().min(0).default(5),
  })
  .passthrough()
  .transform((e) => ({ kind: 'store-path' as const, installId: e.install_id, system: e.system, outputs: { out: e.store_path } as Record<string, string>, outputsToInstall: ['out'], priority: e.priority, name: e.install_id }));

export const LockEntrySchema = z.union([Catalog, Flake, StorePathEntry]);
export type LockEntry = z.infer<typeof LockEntrySchema>;

const LockSchema = z
  .object({
    'lockfile-version': z.literal(1),
    manifest: z.unknown().optional(),
    packages: z.array(z.unknown()),
  })
  .passthrough();

export interface Lockfile {
  manifest: Manifest | undefined;
  packages: LockEntry[];
}

export class LockError extends Error {}

export function parseLockfile(text: string): Lockfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new LockError(`manifest.lock is not JSON (${(e as Error).message})`);
  }
  const top = LockSchema.safeParse(raw);
  if (!top.success) {
    const v = (raw as { 'lockfile-version'?: unknown } | null)?.['lockfile-version'];
    if (v !== undefined && v !== 1) throw new LockError(`manifest.lock has lockfile-version ${JSON.stringify(v)}; only version 1 is supported`);
    throw new LockError(`manifest.lock is invalid: ${issues(top.error)}`);
  }
  const packages = top.data.packages.map((p, i) => {
    const r = LockEntrySchema.safeParse(p);
    if (!r.success) {
      const o = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
      const id = typeof o.install_id === 'string' ? ` (${o.install_id})` : '';
      // report against the variant the entry looks like, not the union's "invalid input"
      const variant = 'attr_path' in o ? Catalog : 'locked-url' in o ? Flake : 'store_path' in o ? StorePathEntry : undefined;
      const why = variant ? issues(variant.safeParse(p).error ?? r.error) : 'it has none of attr_path (catalog), locked-url (flake), store_path';
      throw new LockError(`manifest.lock package #${i}${id} is not a valid catalog, flake or store-path entry: ${why}`);
    }
    return r.data;
  });
  let manifest: Manifest | undefined;
  if (top.data.manifest !== undefined) {
    try {
      manifest = validateManifest(top.data.manifest, 'manifest.lock\'s manifest');
    } catch (e) {
      if (e instanceof ManifestError) throw new LockError(e.message);
      throw e;
    }
  }
  return { manifest, packages };
}
