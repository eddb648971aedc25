// The installer as kata-deploy stages: host check, artifacts, runtime config, restart, verify,
// label. Every stage is safe to rerun: file stages plan changes first and a second run plans
// none; restart happens only when the config changed or the handler is not served; the label is
// set only after the runtime itself reports the handler. Uninstall undoes the same stages in
// reverse (label first, so the scheduler stops sending flox pods before the handler goes).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FloxError } from '../errors.js';
import {
  artifactPaths,
  DEFAULT_INSTALL_ROOT,
  findSourceRoot,
  planArtifacts,
  type NodeChoice,
} from './artifacts.js';
import {
  BACKUP_SUFFIX,
  HANDLER,
  parseContainerdVersion,
  planContainerd,
  planContainerdUninstall,
  type ConfigFileEdit,
} from './containerd-config.js';
import { CRIO_DROPIN, planCrio, planCrioUninstall } from './crio-config.js';
import { describeChange } from './diff.js';
import { applyChanges, atomicWrite, hostPath, readIfExists, removeEmptyDirs, removeEmptyTree } from './fsio.js';
import {
  CONTAINERD_CONFIG,
  containerdSocketFromConfig,
  containerdVersion,
  crioDropins,
  CRIO_MAIN,
  detectRuntime,
  DROPIN_NAME,
  resolveImports,
  SOCKETS,
} from './host-check.js';
import { defaultHostExecMode, makeHostExec, type Exec, type HostExecMode } from './host-exec.js';
import { Journal, journalPath, readJournal } from './journal.js';
import { K3S_CONTAINERD_DIR, planK3s, planK3sUninstall, templateName } from './k3s-config.js';
import { inClusterConfig, KubeClient } from './kube.js';
import { activeUnit, restartUnit } from './systemd.js';
import { hasBlock, stripBlock } from './toml-edit.js';
import { isNoop, type FileChange, type RuntimeKind, type StageResult } from './types.js';
import { checkServed, containerdServedHandler, crioServedHandler, type ServedHandler } from './verify.js';

export const NODE_LABEL = 'flox.dev/enabled';

export interface InstallOptions {
  /** Where the host's / is mounted (the DaemonSet's hostPath); '/' on the node itself. */
  hostRoot?: string;
  /** Install root as the host sees it. */
  installRoot?: string;
  runtime?: RuntimeKind | 'auto';
  /** Host path of containerd's main config. */
  containerdConfig?: string;
  /** Skip asking the binary, e.g. "1.7.2" or "containerd://2.0.1". */
  containerdVersion?: string;
  /** CRI socket as the installer sees it (default: from the config, under the host root). */
  criSocket?: string;
  dryRun?: boolean;
  restart?: boolean;
  /** Directory holding bin/flox-runtime and dist/ (default: the running package). */
  source?: string;
  /** 'auto': copy this Node into the install root when running in a pod, else none. */
  node?: 'auto' | 'copy' | 'none' | { path: string };
  hostExec?: HostExecMode;
  exec?: Exec;
  /** null: never talk to the API; undefined: the pod's service account if in a cluster. */
  kube?: KubeClient | null;
  nodeName?: string;
  env?: NodeJS.ProcessEnv;
  verifyTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface ChangeSummary {
  path: string;
  action: 'create' | 'update' | 'delete';
  reason: string;
}

export interface Report {
  action: 'install' | 'uninstall';
  dryRun: boolean;
  runtime: RuntimeKind;
  changes: ChangeSummary[];
  /** Human-readable diff of every planned change (dry run) or applied change. */
  diff: string;
  stages: StageResult[];
  notes: string[];
  served?: ServedHandler;
}

interface Resolved {
  hostRoot: string;
  installRoot: string;
  binaryName: string;
  kind: RuntimeKind;
  exec: Exec;
  env: NodeJS.ProcessEnv;
  log: (msg: string) => void;
  kube: KubeClient | null;
  nodeName: string | undefined;
  restart: boolean;
  dryRun: boolean;
  verifyTimeoutMs: number;
}

function resolveCommon(o: InstallOptions): Resolved {
  const hostRoot = resolve(o.hostRoot ?? '/');
  const installRoot = o.installRoot ?? DEFAULT_INSTALL_ROOT;
  if (!installRoot.startsWith('/')) throw new FloxError('install', `install root must be absolute, got ${installRoot}`);
  const env = o.env ?? process.env;
  const exec = o.exec ?? makeHostExec(o.hostExec ?? defaultHostExecMode(hostRoot), hostRoot);
  const kube = o.kube === undefined ? (() => {
    const cfg = inClusterConfig(env);
    return cfg ? new KubeClient(cfg) : null;
  })() : o.kube;
  const kind = !o.runtime || o.runtime === 'auto' ? detectRuntime(hostRoot, o.containerdConfig) : o.runtime;
  return {
    hostRoot,
    installRoot,
    binaryName: join(installRoot, 'bin', 'flox-runtime'),
    kind,
    exec,
    env,
    log: o.log ?? (() => {}),
    kube,
    nodeName: o.nodeName ?? env.NODE_NAME,
    restart: o.restart ?? true,
    dryRun: o.dryRun ?? false,
    verifyTimeoutMs: o.verifyTimeoutMs ?? 120_000,
  };
}

const text = (b: Buffer | null) => (b === null ? null : b.toString('utf8'));
const buf = (s: string | null) => (s === null ? null : Buffer.from(s));

// 0644 is for a file the installer creates; an edited one keeps its own mode and owner
function toChange(e: ConfigFileEdit, hostRoot: string): FileChange {
  return { path: hostPath(hostRoot, e.path), before: buf(e.before), after: buf(e.after), reason: e.reason, mode: 0o644 };
}

function summarize(changes: FileChange[]): ChangeSummary[] {
  return changes
    .filter((c) => !isNoop(c))
    .map((c) => ({ path: c.path, action: c.before === null ? 'create' : c.after === null ? 'delete' : 'update', reason: c.reason }));
}

interface RuntimePlan {
  changes: FileChange[];
  notes: string[];
  /** Socket as the installer sees it. */
  socket: string;
  seeds: Record<string, string>;
}

async function planRuntimeConfig(r: Resolved, o: InstallOptions): Promise<RuntimePlan> {
  const notes: string[] = [];
  const seeds: Record<string, string> = {};
  const changes: FileChange[] = [];
  const backup = (path: string, original: string | null, edited: boolean) => {
    // one copy of the pre-flox file, for humans; uninstall does not need it
    if (!edited || original === null) return;
    const p = hostPath(r.hostRoot, `${path}${BACKUP_SUFFIX}`);
    if (existsSync(p)) return;
    changes.push({ path: p, before: null, after: Buffer.from(stripBlock(original, path)), reason: 'backup of the file before flox-runtime edited it', mode: 0o600 });
  };

  if (r.kind === 'containerd') {
    // a rerun without --containerd-config edits the file the first run edited
    const mainPath = o.containerdConfig ?? readJournal(r.hostRoot, r.installRoot)?.containerdConfig ?? CONTAINERD_CONFIG;
    const mainText = text(readIfExists(hostPath(r.hostRoot, mainPath)));
    const dropinPath = join(dirname(mainPath), 'conf.d', DROPIN_NAME);
    const dropinText = text(readIfExists(hostPath(r.hostRoot, dropinPath)));
    const { version, source } = await containerdVersion(r.exec, o.containerdVersion);
    notes.push(`containerd version: ${source}`);
    let defaultText: string | null = null;
    if (mainText === null) {
      const d = await r.exec(['containerd', 'config', 'default'], { timeoutMs: 30_000 });
      defaultText = d.exitCode === 0 ? d.stdout.replace(/\n*$/, '\n') : null;
    }
    const imported = mainText === null ? [] : resolveImports(r.hostRoot, mainPath, stripBlock(mainText, mainPath), dropinPath);
    const plan = planContainerd({ mainPath, mainText, defaultText, imported, version, binaryName: r.binaryName, dropinPath, dropinText });
    notes.push(`containerd config: ${plan.mode === 'drop-in' ? `drop-in ${dropinPath}` : `block in ${mainPath}`} (config version ${plan.configVersion}, plugin ${plan.pluginId})`, ...plan.notes);
    if (mainText === null && plan.mode === 'main-file' && defaultText) seeds[mainPath] = defaultText;
    for (const e of plan.edits) changes.push(toChange(e, r.hostRoot));
    const mainEdit = plan.edits.find((e) => e.path === mainPath);
    backup(mainPath, mainText, !!mainEdit && mainEdit.after !== mainText && mainText !== null && !hasBlock(mainText));
    const socket = o.criSocket ?? hostPath(r.hostRoot, containerdSocketFromConfig(mainText ?? defaultText, SOCKETS.containerd));
    return { changes, notes, socket, seeds };
  }

  if (r.kind === 'k3s' || r.kind === 'rke2') {
    const renderedPath = `${K3S_CONTAINERD_DIR[r.kind]}/config.toml`;
    const rendered = text(readIfExists(hostPath(r.hostRoot, renderedPath)));
    if (rendered === null) {
      throw new FloxError('install', `${renderedPath} does not exist: start ${r.kind} once so it renders its containerd config, then run the installer`);
    }
    // the template name depends on the rendered version; read the candidate for that version
    const probe = planK3s({ renderedPath, renderedText: rendered, templateText: null, binaryName: r.binaryName });
    const templateText = text(readIfExists(hostPath(r.hostRoot, probe.templatePath)));
    const plan = planK3s({ renderedPath, renderedText: rendered, templateText, binaryName: r.binaryName });
    notes.push(`${r.kind}: template ${plan.templatePath} (config version ${plan.configVersion})`, ...plan.notes);
    for (const e of plan.edits) changes.push(toChange(e, r.hostRoot));
    backup(plan.templatePath, templateText, templateText !== null && !hasBlock(templateText));
    return { changes, notes, socket: o.criSocket ?? hostPath(r.hostRoot, SOCKETS[r.kind]), seeds };
  }

  const mainText = text(readIfExists(hostPath(r.hostRoot, CRIO_MAIN)));
  const dropinText = text(readIfExists(hostPath(r.hostRoot, CRIO_DROPIN)));
  const plan = planCrio({ mainText, dropins: crioDropins(r.hostRoot), dropinPath: CRIO_DROPIN, dropinText, binaryName: r.binaryName });
  notes.push(`CRI-O drop-in ${CRIO_DROPIN}`, ...plan.notes);
  for (const e of plan.edits) changes.push(toChange(e, r.hostRoot));
  return { changes, notes, socket: o.criSocket ?? hostPath(r.hostRoot, SOCKETS.crio), seeds };
}

function nodeChoice(o: InstallOptions, hostRoot: string): NodeChoice {
  const n = o.node ?? 'auto';
  if (n === 'none') return { kind: 'none' };
  if (n === 'copy') return { kind: 'copy', from: process.execPath };
  if (typeof n === 'object') return { kind: 'path', path: n.path };
  return hostRoot === '/' ? { kind: 'none' } : { kind: 'copy', from: process.execPath };
}

async function served(r: Resolved, socket: string, timeoutMs: number): Promise<ServedHandler | null> {
  return r.kind === 'crio' ? await crioServedHandler(socket, timeoutMs) : await containerdServedHandler(socket, timeoutMs);
}

async function retryFor<T>(ms: number, f: () => Promise<T>): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() >= until) throw e;
      await new Promise((res) => setTimeout(res, 1_000));
    }
  }
}

/** Installer view -> host path (the inverse of hostPath). */
function toHostView(hostRoot: string, p: string): string {
  const root = resolve(hostRoot);
  if (root === '/') return p;
  return p === root ? '/' : p.startsWith(`${root}/`) ? p.slice(root.length) : p;
}

/** Directories that do not exist yet on the way to `path`, outermost first. */
function missingDirs(path: string): string[] {
  const out: string[] = [];
  let d = dirname(path);
  while (!existsSync(d)) {
    out.unshift(d);
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  return out;
}

export async function install(o: InstallOptions = {}): Promise<Report> {
  const r = resolveCommon(o);
  const stages: StageResult[] = [];
  const notes: string[] = [];
  stages.push({ stage: 'host-check', status: 'done', detail: `runtime ${r.kind}, host root ${r.hostRoot}, install root ${r.installRoot}` });

  const source = o.source ?? findSourceRoot();
  if (!source) throw new FloxError('install', 'cannot find the runtime files (bin/flox-runtime, dist/flox-runtime.mjs); pass --source DIR');
  const artifacts = planArtifacts({ hostRoot: r.hostRoot, installRoot: r.installRoot, source, node: nodeChoice(o, r.hostRoot) });
  const rt = await planRuntimeConfig(r, o);
  notes.push(...rt.notes);
  const all = [...artifacts, ...rt.changes];
  const pending = all.filter((c) => !isNoop(c));
  const diff = pending.map(describeChange).join('\n\n');
  const report: Report = { action: 'install', dryRun: r.dryRun, runtime: r.kind, changes: summarize(all), diff, stages, notes };

  if (r.dryRun) {
    stages.push({ stage: 'artifacts', status: 'planned', detail: `${artifacts.filter((c) => !isNoop(c)).length} file(s)` });
    stages.push({ stage: 'runtime-config', status: 'planned', detail: `${rt.changes.filter((c) => !isNoop(c)).length} file(s)` });
    return report;
  }

  // artifacts before config: the handler must never point at a missing binary
  const prev = readJournal(r.hostRoot, r.installRoot);
  const newDirs = pending.flatMap((c) => (c.after !== null ? missingDirs(c.path) : []));
  const jPath = journalPath(r.hostRoot, r.installRoot);
  newDirs.push(...missingDirs(jPath));
  const doneArtifacts = applyChanges(artifacts);
  stages.push({ stage: 'artifacts', status: doneArtifacts.length ? 'changed' : 'unchanged', detail: `${doneArtifacts.length} file(s) written under ${r.installRoot}` });
  const doneConfig = applyChanges(rt.changes);
  stages.push({ stage: 'runtime-config', status: doneConfig.length ? 'changed' : 'unchanged', detail: doneConfig.map((c) => c.path).join(', ') || 'already configured' });

  // the journal holds host paths, so an uninstall run on the node itself reads it right
  const created = new Set(prev?.created ?? []);
  for (const c of [...doneArtifacts, ...doneConfig]) if (c.before === null) created.add(toHostView(r.hostRoot, c.path));
  const dirs = [...(prev?.createdDirs ?? [])];
  for (const d of newDirs.map((x) => toHostView(r.hostRoot, x))) if (!dirs.includes(d)) dirs.push(d);
  const journal: Journal = {
    version: 1,
    runtime: r.kind,
    unit: prev?.unit ?? null,
    installRoot: r.installRoot,
    created: [...created],
    createdDirs: dirs,
    seeds: { ...(prev?.seeds ?? {}), ...rt.seeds },
    socket: toHostView(r.hostRoot, rt.socket),
    labelled: prev?.labelled ?? false,
    ...(o.containerdConfig ?? prev?.containerdConfig ? { containerdConfig: o.containerdConfig ?? prev?.containerdConfig } : {}),
  };
  const writeJournal = () => atomicWrite(jPath, Buffer.from(`${JSON.stringify(journal, null, 2)}\n`), 0o644);
  writeJournal();

  // restart only when needed: a rerun with nothing changed and the handler served does nothing
  const configChanged = doneConfig.length > 0;
  const current = configChanged || !existsSync(rt.socket) ? null : await served(r, rt.socket, 2_000).catch(() => null);
  let restarted = false;
  if (!r.restart) {
    stages.push({ stage: 'restart', status: 'skipped', detail: configChanged ? `--no-restart: restart ${r.kind} to load the flox handler` : '--no-restart' });
  } else if (current) {
    stages.push({ stage: 'restart', status: 'skipped', detail: 'config unchanged and the handler is already served' });
  } else {
    const unit = await activeUnit(r.exec, r.kind);
    if (!unit) throw new FloxError('install', `no active systemd unit for ${r.kind}; restart it by hand or pass --no-restart`);
    journal.unit = unit;
    writeJournal();
    await restartUnit(r.exec, unit);
    restarted = true;
    stages.push({ stage: 'restart', status: 'done', detail: `systemctl restart ${unit}` });
  }

  // verify: ask the runtime, never trust the file we wrote
  const h = restarted ? await served(r, rt.socket, r.verifyTimeoutMs) : current;
  if (restarted || h) {
    report.served = checkServed(h, r.binaryName, `${r.kind} on ${rt.socket}`);
    stages.push({ stage: 'verify', status: 'done', detail: `handler ${HANDLER} served: BinaryName ${r.binaryName}, pod_annotations ${report.served.podAnnotations.join(',')}` });
  } else {
    stages.push({
      stage: 'verify',
      status: 'skipped',
      detail: configChanged ? 'runtime not restarted: the handler is not served yet' : `the runtime on ${rt.socket} does not serve ${HANDLER} (yet)`,
    });
  }

  if (!report.served) {
    stages.push({ stage: 'label', status: 'skipped', detail: 'handler not verified as served; node not labelled' });
  } else if (!r.kube || !r.nodeName) {
    stages.push({ stage: 'label', status: 'skipped', detail: `not in a cluster (need NODE_NAME and a service account); label by hand: kubectl label node <node> ${NODE_LABEL}=true` });
  } else {
    // on k3s/rke2 servers the restart took the API server down too: give it time to return
    const kube = r.kube;
    const nodeName = r.nodeName;
    await retryFor(r.verifyTimeoutMs, () => kube.patchNodeLabels(nodeName, { [NODE_LABEL]: 'true' }));
    journal.labelled = true;
    writeJournal();
    stages.push({ stage: 'label', status: 'done', detail: `${NODE_LABEL}=true on node ${r.nodeName}` });
  }
  return report;
}

export async function uninstall(o: InstallOptions = {}): Promise<Report> {
  const r0 = resolveCommon({ ...o, runtime: o.runtime ?? 'auto' });
  const journal = readJournal(r0.hostRoot, r0.installRoot);
  const r = !o.runtime || o.runtime === 'auto' ? { ...r0, kind: journal?.runtime ?? r0.kind } : r0;
  const stages: StageResult[] = [];
  const notes: string[] = [];

  // 1. label off first, so no new flox pod lands here while the handler goes away
  if (!r.kube || !r.nodeName) {
    stages.push({ stage: 'label', status: 'skipped', detail: `not in a cluster; remove the label by hand: kubectl label node <node> ${NODE_LABEL}-` });
  } else if (!r.dryRun) {
    await r.kube.patchNodeLabels(r.nodeName, { [NODE_LABEL]: null });
    stages.push({ stage: 'label', status: 'done', detail: `${NODE_LABEL} removed from node ${r.nodeName}` });
  } else stages.push({ stage: 'label', status: 'planned', detail: `remove ${NODE_LABEL} from node ${r.nodeName}` });

  // 2. config edits
  const edits: ConfigFileEdit[] = [];
  let socket: string;
  const read = (p: string) => text(readIfExists(hostPath(r.hostRoot, p)));
  if (r.kind === 'containerd') {
    const mainPath = o.containerdConfig ?? journal?.containerdConfig ?? CONTAINERD_CONFIG;
    const dropinPath = join(dirname(mainPath), 'conf.d', DROPIN_NAME);
    const mainText = read(mainPath);
    edits.push(...planContainerdUninstall({ mainPath, mainText, seedText: journal?.seeds[mainPath] ?? null, dropinPath, dropinText: read(dropinPath) }));
    socket = o.criSocket ?? hostPath(r.hostRoot, journal?.socket ?? containerdSocketFromConfig(mainText, SOCKETS.containerd));
  } else if (r.kind === 'k3s' || r.kind === 'rke2') {
    for (const v of [2, 3]) {
      const p = `${K3S_CONTAINERD_DIR[r.kind]}/${templateName(v)}`;
      edits.push(...planK3sUninstall(p, read(p)));
    }
    socket = o.criSocket ?? hostPath(r.hostRoot, journal?.socket ?? SOCKETS[r.kind]);
  } else {
    edits.push(...planCrioUninstall(CRIO_DROPIN, read(CRIO_DROPIN)));
    socket = o.criSocket ?? hostPath(r.hostRoot, journal?.socket ?? SOCKETS.crio);
  }
  const configChanges = edits.map((e) => toChange(e, r.hostRoot));
  // backups go when the file is back to what they hold (else the user changed it since: keep)
  for (const e of edits) {
    const bak = hostPath(r.hostRoot, `${e.path}${BACKUP_SUFFIX}`);
    const b = readIfExists(bak);
    if (b === null) continue;
    if (e.after === null || b.equals(Buffer.from(e.after))) configChanges.push({ path: bak, before: b, after: null, reason: 'remove the backup (file restored)' });
    else notes.push(`kept ${bak}: ${e.path} changed since the install`);
  }

  // 3. artifacts and the journal
  const artifactChanges: FileChange[] = [...artifactPaths(r.hostRoot, r.installRoot), journalPath(r.hostRoot, r.installRoot)].flatMap((p) => {
    const before = readIfExists(p);
    return before === null ? [] : [{ path: p, before, after: null, reason: 'runtime file', summary: true }];
  });
  const all = [...configChanges, ...artifactChanges];
  const report: Report = {
    action: 'uninstall',
    dryRun: r.dryRun,
    runtime: r.kind,
    changes: summarize(all),
    diff: all.filter((c) => !isNoop(c)).map(describeChange).join('\n\n'),
    stages,
    notes,
  };
  if (r.dryRun) {
    stages.push({ stage: 'runtime-config', status: 'planned', detail: `${configChanges.length} file(s)` });
    stages.push({ stage: 'artifacts', status: 'planned', detail: `${artifactChanges.length} file(s)` });
    return report;
  }

  const doneConfig = applyChanges(configChanges);
  stages.push({ stage: 'runtime-config', status: doneConfig.length ? 'changed' : 'unchanged', detail: doneConfig.map((c) => c.path).join(', ') || 'nothing to remove' });
  if (doneConfig.length && r.restart) {
    const unit = journal?.unit ?? (await activeUnit(r.exec, r.kind));
    if (!unit) throw new FloxError('install', `no active systemd unit for ${r.kind}; restart it by hand`);
    await restartUnit(r.exec, unit);
    stages.push({ stage: 'restart', status: 'done', detail: `systemctl restart ${unit}` });
    const h = await served(r, socket, r.verifyTimeoutMs).catch(() => undefined);
    stages.push(
      h === null
        ? { stage: 'verify', status: 'done', detail: `${HANDLER} no longer served` }
        : { stage: 'verify', status: h === undefined ? 'skipped' : 'failed', detail: h === undefined ? 'runtime did not answer' : `${HANDLER} still served` },
    );
  } else {
    stages.push({ stage: 'restart', status: 'skipped', detail: doneConfig.length ? `--no-restart: restart ${r.kind} to drop the handler` : 'config unchanged' });
  }

  // flox containers still running keep calling BinaryName through their shims; see docs/install.md
  const doneArtifacts = applyChanges(artifactChanges);
  // empty dirs inside the install root (ours), then the ones the install created outside it
  for (const rel of ['bin', 'dist', 'etc', 'libexec']) removeEmptyTree(hostPath(r.hostRoot, join(r.installRoot, rel)));
  for (const d of [...(journal?.createdDirs ?? [])].reverse()) {
    const p = hostPath(r.hostRoot, d);
    removeEmptyDirs(p, dirname(p));
  }
  // without a journal, remove the install root only if it is empty now
  if (!journal) removeEmptyDirs(hostPath(r.hostRoot, r.installRoot), dirname(hostPath(r.hostRoot, r.installRoot)));
  stages.push({ stage: 'artifacts', status: doneArtifacts.length ? 'changed' : 'unchanged', detail: `${doneArtifacts.length} file(s) removed` });
  return report;
}
