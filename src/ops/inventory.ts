// What the node holds, read from the state dir: rendered environments (render.json + usage
// record), node store paths (metadata records), FloxHub cache entries. Reads only; the gc plan
// and `env ls` are pure functions over this.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { metaDir, nodeStoreDir } from '../nix/node-store.js';
import { parseStoreBasename, STORE_DIR } from '../nix/store-path.js';
import { listUsage, type UsageRecord } from './usage.js';

export interface RenderedEnv {
  key: string;
  environment: string;
  generation: number;
  commit: string;
  mode: string;
  hostDir: string;
  /** store basenames the profile links (its packages' outputs) plus the usage record's closure */
  roots: string[];
  renderedAt: number;
  lastUsed: number;
  useCount: number;
}

export interface StoreEntry {
  basename: string;
  references: string[];
  narSize: number;
  users: string[];
  registeredAt: number;
  /** metadata record unreadable: never deleted, reported */
  corrupt?: boolean;
}

export interface CachedEnv {
  hub: string;
  environment: string;
  /** generations with a pin pointer (resolved on this node at least once) */
  generations: number[];
  headCommit?: string;
  headAt?: string;
}

export interface Inventory {
  envs: RenderedEnv[];
  paths: StoreEntry[];
  cached: CachedEnv[];
}

const RenderJson = z.object({
  environment: z.string(),
  generation: z.number().int(),
  commit: z.string(),
  mode: z.string(),
  packages: z.array(z.object({ outputs: z.array(z.object({ storePath: z.string() })) }).passthrough()).optional(),
}).passthrough();

const MetaJson = z.object({ storePath: z.string(), references: z.array(z.string()), narSize: z.number(), registeredAt: z.string() }).passthrough();

const ls = (dir: string): string[] => {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
};

const basenameOf = (p: string): string | undefined => {
  const b = p.startsWith(`${STORE_DIR}/`) ? p.slice(STORE_DIR.length + 1).split('/')[0] : undefined;
  if (!b) return undefined;
  try {
    parseStoreBasename(b);
    return b;
  } catch {
    return undefined;
  }
};

export function readRenderedEnvs(stateDir: string, usage: UsageRecord[] = listUsage(stateDir)): RenderedEnv[] {
  const byKey = new Map(usage.map((u) => [u.key, u]));
  const out: RenderedEnv[] = [];
  for (const key of ls(join(stateDir, 'envs'))) {
    if (key.startsWith('.')) continue;
    const hostDir = join(stateDir, 'envs', key);
    let r;
    let renderedAt: number;
    try {
      r = RenderJson.parse(JSON.parse(readFileSync(join(hostDir, 'render.json'), 'utf8')));
      renderedAt = statSync(hostDir).mtimeMs;
    } catch {
      continue; // not a finished render (renders appear by rename, complete), or removed meanwhile
    }
    const u = byKey.get(key);
    const paths = [...(r.packages ?? []).flatMap((p) => p.outputs.map((o) => o.storePath)), ...(u?.closure ?? [])];
    out.push({
      key,
      environment: r.environment,
      generation: r.generation,
      commit: r.commit,
      mode: r.mode,
      hostDir,
      roots: [...new Set(paths.flatMap((p) => basenameOf(p) ?? []))].sort(),
      renderedAt,
      lastUsed: u ? Math.max(Date.parse(u.lastUsed) || 0, renderedAt) : renderedAt,
      useCount: u?.count ?? 0,
    });
  }
  return out;
}

export function readStoreEntries(stateDir: string): StoreEntry[] {
  const out: StoreEntry[] = [];
  const dir = metaDir(stateDir);
  for (const name of ls(dir)) {
    if (!name.endsWith('.json')) continue;
    const basename = name.slice(0, -5);
    try {
      parseStoreBasename(basename);
    } catch {
      continue;
    }
    const users = ls(join(dir, `${basename}.users`)).map((u) => decodeURIComponent(u));
    try {
      const m = MetaJson.parse(JSON.parse(readFileSync(join(dir, name), 'utf8')));
      out.push({
        basename,
        references: m.references.flatMap((r) => basenameOf(r) ?? []),
        narSize: m.narSize,
        users,
        registeredAt: Date.parse(m.registeredAt) || 0,
      });
    } catch {
      out.push({ basename, references: [], narSize: 0, users, registeredAt: 0, corrupt: true });
    }
  }
  // a record whose path is gone is not a store path (a crash between record and rename)
  const present = new Set(ls(nodeStoreDir(stateDir)));
  return out.filter((e) => present.has(e.basename));
}

export function readFloxhubCache(stateDir: string): CachedEnv[] {
  const out: CachedEnv[] = [];
  const root = join(stateDir, 'floxhub');
  for (const hub of ls(root)) {
    for (const owner of ls(join(root, hub))) {
      for (const name of ls(join(root, hub, owner))) {
        const dir = join(root, hub, owner, name);
        const generations = ls(join(dir, 'pins'))
          .map((f) => /^(\d+)\.json$/.exec(f)?.[1])
          .filter((g): g is string => g !== undefined)
          .map(Number)
          .sort((a, b) => a - b);
        let head: { commit?: string; at?: string } = {};
        try {
          head = JSON.parse(readFileSync(join(dir, 'head.json'), 'utf8')) as typeof head;
        } catch {
          // never resolved live
        }
        out.push({ hub, environment: `${owner}/${name}`, generations, ...(head.commit && { headCommit: head.commit }), ...(head.at && { headAt: head.at }) });
      }
    }
  }
  return out;
}

export function readInventory(stateDir: string): Inventory {
  return { envs: readRenderedEnvs(stateDir), paths: readStoreEntries(stateDir), cached: readFloxhubCache(stateDir) };
}

/** Transitive closure of roots over the store's references (roots not in the store are skipped). */
export function closureOf(roots: Iterable<string>, byName: Map<string, StoreEntry>): Set<string> {
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length) {
    const b = todo.pop()!;
    if (seen.has(b)) continue;
    const e = byName.get(b);
    if (!e) continue;
    seen.add(b);
    for (const r of e.references) if (!seen.has(r)) todo.push(r);
  }
  return seen;
}
