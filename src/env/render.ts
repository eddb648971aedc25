// Renders an environment's profile (run or dev) once per (environment, generation commit, mode,
// system) under <state-dir>/envs/<key>, atomically (build in a temp dir, rename), so every pod
// that uses it shares one read-only tree. The container sees it at /run/flox/env.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { FloxError } from '../errors.js';
import type { ResolvedEnvironment } from '../floxhub/index.js';
import type { Logger } from '../log/logger.js';
import { activationFiles } from './scripts.js';
import { type SelectedPackages, selectPackages } from './select.js';
import { expandInputs, planTree, resolveInTree, type TreeInput } from './tree.js';

/** Bump when the rendered layout or the scripts change: old renders are then left for GC. */
export const RENDER_VERSION = 1;
const RESERVED = new Set(['activate.d', 'manifest.lock', 'render.json']);

export type Mode = 'run' | 'dev';

export interface RenderOptions {
  resolved: Pick<ResolvedEnvironment, 'ref' | 'generation' | 'commit' | 'manifest' | 'lock' | 'lockJson' | 'description'>;
  mode: Mode;
  system: string;
  stateDir: string;
  /** host directory holding <hash>-<name> store paths (the node store) */
  storeDir: string;
  log: Logger;
}

export interface RenderResult {
  hostDir: string;
  key: string;
  created: boolean;
}

export function renderKey(r: RenderOptions['resolved'], mode: Mode, system: string): string {
  const h = createHash('sha256')
    .update(JSON.stringify({ v: RENDER_VERSION, owner: r.ref.owner, name: r.ref.name, commit: r.commit, generation: r.generation, mode, system }))
    .digest('hex')
    .slice(0, 24);
  return `${h}-${r.ref.name}-${r.generation}-${mode}`;
}

/**
 * `<state-dir>/envs`, created or tightened to 0711 on every use (older versions made it 0755):
 * a local user cannot list the keys, so cannot find another tenant's env. A rendered env itself
 * stays world-readable (0755 dirs, 0444/0555 files): it is bind-mounted into containers that
 * run as any uid, and their activation reads activate.d (envrc holds [vars]) and the profile.
 * render.json is read only by the runtime: 0400.
 */
function envsDir(stateDir: string): string {
  const envs = join(stateDir, 'envs');
  try {
    mkdirSync(stateDir, { recursive: true });
    mkdirSync(envs, { recursive: true, mode: 0o711 });
    if ((statSync(envs).mode & 0o7777) !== 0o711) chmodSync(envs, 0o711);
  } catch (e) {
    throw new FloxError('render', `cannot prepare ${envs}: ${(e as Error).message}`, { cause: e });
  }
  return envs;
}

export async function renderEnvironment(opts: RenderOptions): Promise<RenderResult> {
  const key = renderKey(opts.resolved, opts.mode, opts.system);
  const envs = envsDir(opts.stateDir);
  const hostDir = join(envs, key);
  if (existsSync(join(hostDir, 'render.json'))) return { hostDir, key, created: false };

  const t0 = Date.now();
  const selected = selectPackages(opts.resolved, opts.system);
  const tmp = join(envs, `.tmp-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(tmp, { recursive: true, mode: 0o755 });
    const count = writeTree(tmp, opts.storeDir, selected, opts.mode);
    writeActivation(tmp, opts);
    const facts = treeFacts(opts.storeDir, tmp);
    writeFileSync(
      join(tmp, 'render.json'),
      JSON.stringify({ version: RENDER_VERSION, environment: opts.resolved.description, generation: opts.resolved.generation, commit: opts.resolved.commit, mode: opts.mode, system: opts.system, facts, packages: selected.packages }, null, 1),
      { mode: 0o400 },
    );
    chmodSync(tmp, 0o755);
    try {
      await rename(tmp, hostDir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(join(hostDir, 'render.json'))) return { hostDir, key, created: false };
      throw e;
    }
    opts.log.info('env: rendered profile', { key, mode: opts.mode, entries: count, ms: Date.now() - t0 });
    return { hostDir, key, created: true };
  } catch (e) {
    if (e instanceof FloxError) {
      throw new FloxError(e.kind, `cannot render ${opts.mode} profile of ${opts.resolved.description}:${opts.resolved.generation}: ${e.message}`, { cause: e });
    }
    throw new FloxError('render', `cannot render ${opts.mode} profile of ${opts.resolved.description}:${opts.resolved.generation} under ${envs}: ${(e as Error).message}`, { cause: e });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function writeTree(root: string, storeDir: string, selected: SelectedPackages, mode: Mode): number {
  const roots: TreeInput[] = selected.packages.flatMap((p) => p.outputs.map((o) => ({ storePath: o.storePath, priority: p.priority, origin: `${p.installId}${o.output === 'out' ? '' : `.${o.output}`}` })));
  const tree = planTree(storeDir, expandInputs(storeDir, roots, mode), RESERVED);
  // parents sort before children, so each directory exists before its entries
  for (const rel of [...tree.keys()].sort()) {
    const node = tree.get(rel)!;
    const p = root + rel;
    if (node.kind === 'dir') mkdirSync(p, { mode: 0o755 });
    else symlinkSync(node.target, p);
  }
  return tree.size;
}

/** What the activation plan needs to know about the tree, found once at render time. */
export interface TreeFacts {
  sh: boolean;
  bash: boolean;
  /** lib/python3.X/site-packages when bin/python3 exists and exactly one such directory does */
  pythonSitePackages?: string;
  cmake: boolean;
  java: boolean;
  /** etc/profile.d/*.sh provided by packages (sourced in dev mode) */
  profileScripts: string[];
}

export function treeFacts(storeDir: string, root: string): TreeFacts {
  const exe = (rel: string) => {
    const p = resolveInTree(storeDir, root, rel);
    try {
      return p !== undefined && statSync(p).isFile();
    } catch {
      return false;
    }
  };
  const list = (rel: string) => {
    const p = resolveInTree(storeDir, root, rel);
    try {
      return p ? readdirSync(p).sort() : [];
    } catch {
      return [];
    }
  };
  const py = exe('bin/python3') ? list('lib').filter((d) => /^python3\.\d+$/.test(d) && resolveInTree(storeDir, root, `lib/${d}/site-packages`)) : [];
  return {
    sh: exe('bin/sh'),
    bash: exe('bin/bash'),
    ...(py.length === 1 ? { pythonSitePackages: `lib/${py[0]}/site-packages` } : {}),
    cmake: exe('bin/cmake'),
    java: exe('bin/java'),
    profileScripts: list('etc/profile.d').filter((f) => f.endsWith('.sh')),
  };
}

/** The facts recorded in a rendered environment (render.json). */
export function readTreeFacts(hostDir: string): TreeFacts | undefined {
  try {
    return (JSON.parse(readFileSync(join(hostDir, 'render.json'), 'utf8')) as { facts?: TreeFacts }).facts;
  } catch {
    return undefined;
  }
}

function writeActivation(root: string, opts: RenderOptions): void {
  const dir = join(root, 'activate.d');
  mkdirSync(dir, { mode: 0o755 });
  const files = activationFiles({ manifest: opts.resolved.manifest, mode: opts.mode, description: opts.resolved.description, generation: opts.resolved.generation });
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), content, { mode: name === 'activate' || name === 'attach' ? 0o555 : 0o444 });
  }
  writeFileSync(join(root, 'manifest.lock'), opts.resolved.lockJson, { mode: 0o444 });
}
