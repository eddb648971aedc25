// `gc`: takes the gc lock exclusive (no activation is between resolve and its usage record),
// reads the inventory and what containers use, plans (gc-plan.ts), then deletes: rendered envs
// first (rename aside, remove), then store paths under their realise locks, metadata record
// before the tree so a crash leaves an invalid path that realise replaces, never a valid one
// with missing contents.
import { chmodSync, lstatSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { FloxError } from '../errors.js';
import { tryLockMany } from '../nix/lock.js';
import { ensureStoreDirs, lockFileOf, metaDir, nodeStoreDir, removeUser, tmpDir } from '../nix/node-store.js';
import { lockGc } from './gc-lock.js';
import { type GcPlan, type GcPolicy, type InUse, genId, planGc } from './gc-plan.js';
import { pruneHubCache } from './hub-cache-gc.js';
import { readInventory } from './inventory.js';
import { KNOWN_RUNC_ROOTS, type RunningContainer, scanRuncRoots } from './running.js';
import { listUsage, removeUsage } from './usage.js';

export interface GcOptions {
  stateDir: string;
  /** explicit roots must exist; undefined: the known roots that exist (at least one) */
  runcRoots?: string[];
  keepGenerations: number;
  maxBytes: number;
  graceMs: number;
  dryRun: boolean;
  /** proceed although some container's use could not be read */
  force?: boolean;
  lockTimeoutMs?: number;
}

export interface GcResult extends GcPlan {
  dryRun: boolean;
  containers: number;
  /** paths another process held locked: left for the next run */
  busyPaths: string[];
  freedBytes: number;
  /** stale temporary entries removed (interrupted renders and downloads) */
  tmpRemoved: number;
  /** cached floxmeta commits no pointer names any more (one per `flox push`) */
  hubCommitsRemoved: number;
}

export function inUseFrom(stateDir: string, containers: RunningContainer[]): { inUse: InUse; unknown: RunningContainer[] } {
  const envs = join(stateDir, 'envs');
  const store = nodeStoreDir(stateDir);
  const inUse: InUse = { envKeys: new Set(), generations: new Set(), paths: new Set() };
  const unknown: RunningContainer[] = [];
  for (const c of containers) {
    if (c.environment !== undefined && c.generation !== undefined) inUse.generations.add(`${c.environment}:${c.generation}`);
    for (const s of c.envSources) if (dirname(s) === envs) inUse.envKeys.add(relative(envs, s));
    for (const s of c.storeSources) {
      const rel = relative(store, s);
      if (rel && !rel.startsWith('..')) inUse.paths.add(rel.split(sep)[0]!);
    }
    if (c.problems.length && c.environment === undefined && c.envSources.length === 0) unknown.push(c);
  }
  return { inUse, unknown };
}

/** Not finding the containers would make every environment look unused: refuse instead. */
function runcRootsToScan(o: GcOptions): string[] {
  const isDir = (d: string) => {
    try {
      return statSync(d).isDirectory();
    } catch {
      return false;
    }
  };
  if (o.runcRoots) {
    const missing = o.runcRoots.filter((r) => !isDir(r));
    if (missing.length && !o.force) throw new FloxError('usage', `runc root ${missing.join(', ')} does not exist; nothing removed (pass the root containerd/CRI-O uses, or --force)`);
    return o.runcRoots;
  }
  const found = KNOWN_RUNC_ROOTS.filter(isDir);
  if (!found.length && !o.force) throw new FloxError('usage', `no runc root found (${KNOWN_RUNC_ROOTS.join(', ')}), so running containers cannot be seen; nothing removed; pass --root`);
  return found;
}

export async function runGc(o: GcOptions): Promise<GcResult> {
  ensureStoreDirs(o.stateDir);
  const roots = runcRootsToScan(o);
  const lock = await lockGc(o.stateDir, 'exclusive', o.lockTimeoutMs);
  try {
    const containers = scanRuncRoots(roots);
    const { inUse, unknown } = inUseFrom(o.stateDir, containers);
    if (unknown.length && !o.force) {
      throw new FloxError(
        'store',
        `cannot tell what ${unknown.length} container(s) use (${unknown.map((c) => `${c.id}: ${c.problems[0]}`).join('; ')}); nothing removed; fix or delete them, or pass --force`,
      );
    }
    const policy: GcPolicy = { keepGenerations: o.keepGenerations, maxBytes: o.maxBytes, graceMs: o.graceMs, now: Date.now() };
    const inventory = readInventory(o.stateDir);
    const plan = planGc(inventory, inUse, policy);
    const result: GcResult = { ...plan, dryRun: o.dryRun, containers: containers.length, busyPaths: [], freedBytes: 0, tmpRemoved: 0, hubCommitsRemoved: 0 };
    if (o.dryRun) return result;

    for (const e of plan.removeEnvs) {
      const dir = join(o.stateDir, 'envs', e.key);
      const aside = join(o.stateDir, 'envs', `.gc-${e.key}-${process.pid}`);
      try {
        renameSync(dir, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      rmSync(aside, { recursive: true, force: true });
      removeUsage(o.stateDir, e.key);
    }

    const locks = await tryLockMany(plan.removePaths.map((p) => lockFileOf(o.stateDir, p.basename)));
    for (const [i, p] of plan.removePaths.entries()) {
      const l = locks[i];
      if (!l) {
        result.busyPaths.push(p.basename);
        continue;
      }
      try {
        rmSync(join(metaDir(o.stateDir), `${p.basename}.json`), { force: true });
        rmSync(join(metaDir(o.stateDir), `${p.basename}.users`), { recursive: true, force: true });
        const aside = join(tmpDir(o.stateDir), `${p.basename}.gc.${process.pid}`);
        try {
          renameSync(join(nodeStoreDir(o.stateDir), p.basename), aside);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
        makeWritable(aside);
        rmSync(aside, { recursive: true, force: true });
        result.freedBytes += p.bytes;
      } finally {
        l.release();
      }
    }
    // usage records whose render is gone (removed by hand, or a crash between the two)
    const rendered = new Set(inventory.envs.map((e) => e.key));
    for (const u of listUsage(o.stateDir)) if (!rendered.has(u.key)) removeUsage(o.stateDir, u.key);
    // no realise runs (gc lock): users can be dropped without racing addUser
    for (const d of plan.dropUsers) removeUser(o.stateDir, d.basename, d.user);
    result.tmpRemoved = removeStaleTmp(o.stateDir, policy.now - o.graceMs);
    const keptGenerations = new Set(plan.keepEnvs.map((e) => genId(e.environment, e.generation)));
    result.hubCommitsRemoved = pruneHubCache(o.stateDir, policy.now - o.graceMs, keptGenerations);
    return result;
  } finally {
    lock.release();
  }
}

/**
 * Leftovers of interrupted renders, downloads and gc runs. With the gc lock held exclusive no
 * activation is writing any of them; the age limit covers processes that do not take that lock
 * (an older flox-runtime during a rolling upgrade).
 */
function removeStaleTmp(stateDir: string, olderThan: number): number {
  const dirs: Array<[string, (n: string) => boolean]> = [
    [join(stateDir, 'envs'), (n) => n.startsWith('.tmp-') || n.startsWith('.gc-')],
    [tmpDir(stateDir), () => true],
  ];
  let n = 0;
  for (const [dir, match] of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names.filter(match)) {
      const p = join(dir, name);
      try {
        if (lstatSync(p).mtimeMs > olderThan) continue;
        makeWritable(p);
        rmSync(p, { recursive: true, force: true });
        n++;
      } catch {
        // gone already
      }
    }
  }
  return n;
}

/** NAR trees are unpacked read-only; directories need +w for their entries to be removed. */
function makeWritable(path: string): void {
  // rmSync as root ignores modes; as another user a read-only directory would stop it
  if (process.getuid?.() === 0) return;
  try {
    const walk = (p: string) => {
      const st = lstatSync(p);
      if (!st.isDirectory()) return;
      chmodSync(p, 0o755);
      for (const n of readdirSync(p)) walk(join(p, n));
    };
    walk(path);
  } catch {
    // best effort
  }
}
