// The gc decision, pure: from what the node holds and what is in use to what goes. Kept:
//   1. rendered envs a container uses (runc state), or used within the grace period (a pod
//      being created has no runc state yet);
//   2. the newest `keepGenerations` generations of each environment (all their modes);
//   3. every store path in the closure of a kept env, of a path a container mounts, of a path
//      a kept generation realised (metadata users), or registered within the grace period.
// Then, over `maxBytes`, the least recently used envs of rule 2 go until the store fits.
// The kept path set is closed under references, so deleting the rest never breaks a closure.
import { closureOf, type Inventory, type RenderedEnv, type StoreEntry } from './inventory.js';

export interface InUse {
  /** render keys a container mounts at /run/flox/env */
  envKeys: Set<string>;
  /** "owner/name:N" from exec records */
  generations: Set<string>;
  /** store basenames a container mounts directly */
  paths: Set<string>;
}

export interface GcPolicy {
  keepGenerations: number;
  /** 0: no limit */
  maxBytes: number;
  graceMs: number;
  now: number;
}

export type KeepReason = 'in-use' | 'recent' | 'kept-generation';

export interface GcPlan {
  removeEnvs: Array<{ key: string; environment: string; generation: number; mode: string; reason: 'old-generation' | 'over-limit' }>;
  keepEnvs: Array<{ key: string; environment: string; generation: number; mode: string; reason: KeepReason }>;
  removePaths: Array<{ basename: string; bytes: number }>;
  /** metadata users of kept paths whose generation is gone (so it stops counting as one on the node) */
  dropUsers: Array<{ basename: string; user: string }>;
  keptPaths: number;
  bytesBefore: number;
  bytesAfter: number;
  /** still above maxBytes after removing everything allowed */
  overLimit: boolean;
}

export const genId = (environment: string, generation: number): string => `${environment}:${generation}`;

export function planGc(inv: Pick<Inventory, 'envs' | 'paths'>, inUse: InUse, policy: GcPolicy): GcPlan {
  const byName = new Map(inv.paths.map((p) => [p.basename, p]));
  const protectedReason = (e: RenderedEnv): KeepReason | undefined => {
    if (inUse.envKeys.has(e.key) || inUse.generations.has(genId(e.environment, e.generation))) return 'in-use';
    if (policy.now - e.lastUsed < policy.graceMs) return 'recent';
    return undefined;
  };

  // generations per environment: rendered ones and ones only realised (metadata users)
  const gens = new Map<string, Set<number>>();
  const addGen = (env: string, g: number) => gens.set(env, (gens.get(env) ?? new Set()).add(g));
  for (const e of inv.envs) addGen(e.environment, e.generation);
  for (const p of inv.paths) for (const u of p.users) {
    const m = /^(.+):(\d+)$/.exec(u);
    if (m) addGen(m[1]!, Number(m[2]));
  }
  const keptGens = new Set<string>();
  for (const [env, set] of gens) {
    for (const g of [...set].sort((a, b) => b - a).slice(0, policy.keepGenerations)) keptGens.add(genId(env, g));
  }

  const keep = new Map<string, KeepReason>();
  for (const e of inv.envs) {
    const r = protectedReason(e) ?? (keptGens.has(genId(e.environment, e.generation)) ? 'kept-generation' : undefined);
    if (r) keep.set(e.key, r);
  }

  const fixedRoots = new Set<string>(inUse.paths);
  for (const p of inv.paths) {
    if (p.corrupt || policy.now - p.registeredAt < policy.graceMs) fixedRoots.add(p.basename);
    // paths used by a generation in use count like its render
    if (p.users.some((u) => inUse.generations.has(u))) fixedRoots.add(p.basename);
  }
  const liveSet = (): Set<string> => {
    const roots = new Set(fixedRoots);
    for (const e of inv.envs) if (keep.has(e.key)) for (const r of e.roots) roots.add(r);
    // a kept generation's realised paths, also when it has no render (yet)
    for (const p of inv.paths) if (p.users.some((u) => keptGens.has(u))) roots.add(p.basename);
    return closureOf(roots, byName);
  };
  const bytesOf = (set: Set<string>) => [...set].reduce((s, b) => s + (byName.get(b)?.narSize ?? 0), 0);

  let live = liveSet();
  const overLimit = new Set<string>();
  if (policy.maxBytes > 0) {
    // least recently used first; only envs kept for their generation, never in-use or recent ones
    const candidates = inv.envs.filter((e) => keep.get(e.key) === 'kept-generation').sort((a, b) => a.lastUsed - b.lastUsed || a.key.localeCompare(b.key));
    for (const e of candidates) {
      if (bytesOf(live) <= policy.maxBytes) break;
      keep.delete(e.key);
      overLimit.add(e.key);
      // its generation no longer protects paths through metadata users unless another mode is kept
      if (!inv.envs.some((o) => keep.has(o.key) && o.environment === e.environment && o.generation === e.generation)) keptGens.delete(genId(e.environment, e.generation));
      live = liveSet();
    }
  }

  const describe = (e: RenderedEnv) => ({ key: e.key, environment: e.environment, generation: e.generation, mode: e.mode });
  const removePaths = inv.paths
    .filter((p: StoreEntry) => !live.has(p.basename))
    .map((p) => ({ basename: p.basename, bytes: p.narSize }))
    .sort((a, b) => a.basename.localeCompare(b.basename));
  const liveGens = new Set([...keptGens, ...inUse.generations]);
  for (const e of inv.envs) if (keep.has(e.key)) liveGens.add(genId(e.environment, e.generation));
  const dropUsers = inv.paths
    .filter((p) => live.has(p.basename) && !p.corrupt && policy.now - p.registeredAt >= policy.graceMs)
    .flatMap((p) => p.users.filter((u) => !liveGens.has(u)).map((user) => ({ basename: p.basename, user })));
  const bytesBefore = inv.paths.reduce((s, p) => s + p.narSize, 0);
  const bytesAfter = bytesOf(live);
  return {
    removeEnvs: inv.envs.filter((e) => !keep.has(e.key)).map((e) => ({ ...describe(e), reason: overLimit.has(e.key) ? 'over-limit' as const : 'old-generation' as const })),
    keepEnvs: inv.envs.filter((e) => keep.has(e.key)).map((e) => ({ ...describe(e), reason: keep.get(e.key)! })),
    removePaths,
    dropUsers,
    keptPaths: live.size,
    bytesBefore,
    bytesAfter,
    overLimit: policy.maxBytes > 0 && bytesAfter > policy.maxBytes,
  };
}
