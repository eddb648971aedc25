// `install --daemon`: what the DaemonSet pod runs. Install, prefetch, report ready, then wait
// for SIGTERM and decide (kata-deploy's rule): clean up only if the DaemonSet no longer selects
// this node. A rolling update replaces the pod while the DaemonSet still selects the node, and
// must not remove the handler under running flox pods. When the API cannot answer, the safe
// side is to leave the node installed.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_INSTALL_ROOT, NODE_PATH_SETTING } from './artifacts.js';
import { hostPath } from './fsio.js';
import { defaultHostExecMode, hostArgv } from './host-exec.js';
import { install, uninstall, type InstallOptions, type Report } from './installer.js';
import { inClusterConfig, KubeClient } from './kube.js';
import { parsePrefetchList, prefetch } from './prefetch.js';
import { syncPolicyFile } from './policy-file.js';
import { daemonSetSelectsNode } from './selects.js';

export interface CleanupDecision {
  cleanup: boolean;
  why: string;
}

/** Which DaemonSet owns this pod: env DAEMONSET_NAME, else the pod's ownerReferences. */
export async function ownDaemonSet(kube: KubeClient, env: NodeJS.ProcessEnv): Promise<{ ns: string; name: string } | null> {
  const ns = env.POD_NAMESPACE;
  if (!ns) return null;
  if (env.DAEMONSET_NAME) return { ns, name: env.DAEMONSET_NAME };
  if (!env.POD_NAME) return null;
  const pod = await kube.getPod(ns, env.POD_NAME);
  const owner = pod?.metadata.ownerReferences?.find((r) => r.kind === 'DaemonSet');
  return owner ? { ns, name: owner.name } : null;
}

export async function decideCleanup(kube: KubeClient | null, nodeName: string | undefined, env: NodeJS.ProcessEnv): Promise<CleanupDecision> {
  if (!kube || !nodeName) return { cleanup: false, why: 'not in a cluster: cannot tell a rolling update from a removal; leaving the node installed' };
  try {
    const own = await ownDaemonSet(kube, env);
    if (!own) return { cleanup: false, why: 'cannot tell which DaemonSet owns this pod (set POD_NAMESPACE and POD_NAME or DAEMONSET_NAME); leaving the node installed' };
    const ds = await kube.getDaemonSet(own.ns, own.name);
    if (!ds) return { cleanup: true, why: `DaemonSet ${own.ns}/${own.name} is gone` };
    const node = await kube.getNode(nodeName);
    if (!node) return { cleanup: false, why: `node ${nodeName} not found; leaving it as it is` };
    const s = daemonSetSelectsNode(ds, node);
    return { cleanup: !s.selects, why: s.why };
  } catch (e) {
    const msg = (e as Error).message;
    // typically: `kubectl delete -k` removed the RBAC (or the namespace) together with the DaemonSet
    const hint = /HTTP 40[13]/.test(msg)
      ? '; the installer lost its API access before it could decide (delete the DaemonSet first, then the rest: docs/install.md), run `flox-runtime uninstall` on the node to remove it'
      : '';
    return { cleanup: false, why: `Kubernetes API error (${msg}); leaving the node installed${hint}` };
  }
}

export interface DaemonOptions extends InstallOptions {
  /** Prefetch list text (env FLOX_PREFETCH or the ConfigMap file). */
  prefetchList?: string;
  /** argv prefix to run `env pull` with; default: the installed runtime on the host (hostCli). */
  cli?: string[];
  readyFile?: string;
  /** Resolves when the pod is asked to stop; default: first SIGTERM or SIGINT. */
  stopSignal?: Promise<string>;
  emit?: (event: Record<string, unknown>) => void;
}

export function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    // signal listeners do not keep Node alive; a timer does
    const keepAlive = setInterval(() => {}, 1 << 30);
    const on = (sig: NodeJS.Signals) => {
      clearInterval(keepAlive);
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export async function runDaemon(o: DaemonOptions): Promise<{ install: Report; decision: CleanupDecision; uninstall?: Report }> {
  const emit = o.emit ?? (() => {});
  // subscribe before installing: a SIGTERM during the install must not kill us half-way
  const stop = o.stopSignal ?? waitForSignal();
  const report = await install({ ...o, dryRun: false });
  emit({ msg: 'installed', stages: report.stages, changes: report.changes });

  const env = o.env ?? process.env;
  // the policy before any prefetch: from here on, flox pods start under it
  if (env.FLOX_POLICY_FILE) {
    try {
      emit({ msg: 'policy', ...syncPolicyFile(o.hostRoot ?? '/', readIfPresent(env.FLOX_POLICY_FILE)) });
    } catch (e) {
      emit({ msg: 'policy refused', error: (e as Error).message });
    }
  }
  const listText = o.prefetchList ?? env.FLOX_PREFETCH ?? (env.FLOX_PREFETCH_FILE ? safeRead(env.FLOX_PREFETCH_FILE) : '');
  const { refs, invalid } = parsePrefetchList(listText);
  if (invalid.length) emit({ msg: 'prefetch: ignoring entries that are not owner/name', invalid });
  if (refs.length) {
    for (const r of await prefetch(refs, o.cli ?? hostCli(o), env)) emit({ msg: 'prefetch', ...r });
  }

  if (o.readyFile) writeFileSync(o.readyFile, 'ready\n');
  emit({ msg: 'waiting for SIGTERM' });
  const sig = await stop;
  const nodeName = o.nodeName ?? env.NODE_NAME;
  const client = o.kube !== undefined ? o.kube : (() => {
    const c = inClusterConfig(env);
    return c ? new KubeClient(c) : null;
  })();
  const decision = await decideCleanup(client, nodeName, env);
  emit({ msg: `${sig}: ${decision.cleanup ? 'cleaning up' : 'leaving the node installed'}`, why: decision.why });
  if (!decision.cleanup) return { install: report, decision };
  const un = await uninstall({ ...o, kube: client, dryRun: false });
  if (env.FLOX_POLICY_FILE) emit({ msg: 'policy', ...syncPolicyFile(o.hostRoot ?? '/', undefined) }); // only the file we wrote
  emit({ msg: 'uninstalled', stages: un.stages });
  return { install: report, decision, uninstall: un };
}

/**
 * The installed runtime, run on the host: pulls must land in the host's state dir under the
 * host's config, not in this container. Uses the Node the install pointed bin/flox-runtime at.
 */
export function hostCli(o: InstallOptions): string[] {
  const hostRoot = o.hostRoot ?? '/';
  const installRoot = o.installRoot ?? DEFAULT_INSTALL_ROOT;
  const node = safeRead(hostPath(hostRoot, join(installRoot, NODE_PATH_SETTING))).trim() || 'node';
  const mode = o.hostExec ?? defaultHostExecMode(hostRoot);
  return hostArgv(mode, hostRoot, [node, join(installRoot, 'dist', 'flox-runtime.mjs')]);
}

function readIfPresent(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined; // the optional ConfigMap is absent
  }
}

function safeRead(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
