// Which store paths an environment links, as Flox's buildenv decides: only lock entries for the
// node's system; legacy `version = 1` manifests link every output but `stubs`; `schema-version`
// manifests link the descriptor's `outputs` ("all" or a list), else the lock's outputs_to_install.
import { FloxError } from '../errors.js';
import type { LockEntry, Lockfile, Manifest } from '../floxhub/index.js';
import { isLegacyManifest } from '../floxhub/manifest.js';

export interface SelectedOutput {
  output: string;
  storePath: string;
}

export interface SelectedPackage {
  installId: string;
  kind: LockEntry['kind'];
  /** Lower wins a file conflict (Flox's default is 5). */
  priority: number;
  outputs: SelectedOutput[];
}

export interface SelectedPackages {
  system: string;
  packages: SelectedPackage[];
}

export interface Selectable {
  manifest: Manifest;
  lock: Lockfile;
  description?: string;
  generation?: number;
}

export function selectPackages(resolved: Selectable, system: string): SelectedPackages {
  const what = resolved.description ? `environment ${resolved.description}${resolved.generation ? `:${resolved.generation}` : ''}` : 'the environment';
  const { manifest, lock } = resolved;
  const systems = manifest.options?.systems;
  const entries = lock.packages.filter((p) => p.system === system);
  const lockedFor = [...new Set(lock.packages.map((p) => p.system))].sort();
  if ((systems && !systems.includes(system)) || (entries.length === 0 && lock.packages.length > 0)) {
    const named = systems ?? lockedFor;
    throw new FloxError(
      'lock',
      `${what} is locked for ${named.join(', ')} only, not for this node's system ${system}; add "${system}" to options.systems in the manifest, run \`flox upgrade\` and \`flox push\`, or schedule the pod on a ${named.join('/')} node`,
    );
  }
  const legacy = isLegacyManifest(manifest);
  const packages = entries.map((e): SelectedPackage => {
    const names = outputNames(e, manifest, legacy, what);
    return {
      installId: e.installId,
      kind: e.kind,
      priority: e.priority,
      outputs: names.map((o) => ({ output: o, storePath: e.outputs[o]! })),
    };
  });
  return { system, packages };
}

function outputNames(e: LockEntry, manifest: Manifest, legacy: boolean, what: string): string[] {
  const all = Object.keys(e.outputs).sort();
  if (legacy) return all.filter((o) => o !== 'stubs');
  const wanted = manifest.install[e.installId]?.outputs;
  if (wanted === 'all') return all;
  const names = wanted ?? e.outputsToInstall ?? (e.outputs.out ? ['out'] : all);
  for (const o of names) {
    if (!e.outputs[o]) throw new FloxError('lock', `${what}: package ${e.installId} has no output "${o}" in manifest.lock (it has ${all.join(', ')}); fix its outputs in the manifest and push`);
  }
  return [...new Set(names)];
}

/** Every store path to realise, each once, in lock order. */
export function storePathsOf(selected: SelectedPackages): string[] {
  const seen = new Set<string>();
  for (const p of selected.packages) for (const o of p.outputs) seen.add(o.storePath);
  return [...seen];
}
