// Containers on this node that may use an environment: every container directory under the runc
// roots (runc keeps it until `runc delete`, running or stopped), read through our exec record
// and the bundle's config.json (found from runc's state.json). Reads only; unreadable entries
// are reported, never guessed away.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ENV_MOUNT } from '../env/scripts.js';
import { isValidContainerId } from '../oci/argv.js';
import { EXEC_RECORD_FILE, readExecRecord } from '../oci/exec-record.js';
import { loadSpecFile, type OciMount } from '../oci/spec.js';

export const DEFAULT_OPERATOR_RUNC_ROOT = '/run/containerd/runc/k8s.io';
/** where runc keeps Kubernetes containers: containerd, k3s/rke2's containerd, CRI-O */
export const KNOWN_RUNC_ROOTS = [DEFAULT_OPERATOR_RUNC_ROOT, '/run/k3s/containerd/runc/k8s.io', '/run/runc'] as const;

export interface RunningContainer {
  root: string;
  id: string;
  bundle?: string;
  /** "owner/name" and generation from flox-exec.json */
  environment?: string;
  generation?: number;
  /** host sources of the spec's mounts at /run/flox/env and under /nix/store */
  envSources: string[];
  storeSources: string[];
  problems: string[];
}

const StateSchema = z.object({ config: z.object({ labels: z.array(z.string()).optional() }).passthrough().optional() }).passthrough();

/** The bundle runc recorded for a container (`bundle=` label in state.json, as `runc state` prints it). */
export function bundleFromState(root: string, id: string): string | undefined {
  try {
    const st = StateSchema.parse(JSON.parse(readFileSync(join(root, id, 'state.json'), 'utf8')));
    const label = st.config?.labels?.find((l) => l.startsWith('bundle='));
    return label?.slice('bundle='.length) || undefined;
  } catch {
    return undefined;
  }
}

export function floxMounts(mounts: OciMount[] | undefined): { env: string[]; store: string[] } {
  const env: string[] = [];
  const store: string[] = [];
  for (const m of mounts ?? []) {
    if (!m.source) continue;
    if (m.destination === ENV_MOUNT) env.push(m.source);
    else if (m.destination === '/nix/store' || m.destination.startsWith('/nix/store/')) store.push(m.source);
  }
  return { env, store };
}

export function scanContainer(root: string, id: string): RunningContainer {
  const c: RunningContainer = { root, id, envSources: [], storeSources: [], problems: [] };
  try {
    const rec = readExecRecord(join(root, id, EXEC_RECORD_FILE));
    if (rec) {
      c.environment = rec.environment.replace(/:\d+$/, '');
      c.generation = rec.generation;
    }
  } catch (e) {
    c.problems.push((e as Error).message);
  }
  const bundle = bundleFromState(root, id);
  if (bundle) {
    c.bundle = bundle;
    try {
      const { env, store } = floxMounts(loadSpecFile(join(bundle, 'config.json')).mounts);
      c.envSources = env;
      c.storeSources = store;
    } catch (e) {
      c.problems.push((e as Error).message);
    }
  }
  return c;
}

export function scanRuncRoots(roots: string[]): RunningContainer[] {
  const out: RunningContainer[] = [];
  for (const root of roots) {
    let ids: string[];
    try {
      ids = readdirSync(root);
    } catch {
      continue; // no such root on this node
    }
    for (const id of ids.sort()) if (isValidContainerId(id)) out.push(scanContainer(root, id));
  }
  return out.filter((c) => c.environment !== undefined || c.envSources.length > 0 || c.storeSources.length > 0 || c.problems.length > 0);
}
