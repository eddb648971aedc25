// `explain`: what the runtime would do (bundle dir) or did (container id) to a container, and
// why — decision, generation, mounts, env, args — without changing anything.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { activate } from '../activate/index.js';
import type { ExecRecord } from '../activate/types.js';
import type { Config } from '../config/schema.js';
import { FloxError, isFloxError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { isValidContainerId } from '../oci/argv.js';
import { EXEC_RECORD_FILE, readExecRecord } from '../oci/exec-record.js';
import { loadSpecFile, type OciMount, type OciSpec } from '../oci/spec.js';
import { decide, describeContainer } from '../pod/request.js';
import { formatEnvironmentRef } from '../pod/environment-ref.js';
import { decidePolicy, describeRule } from '../policy/index.js';
import { bundleFromState } from './running.js';

export interface SpecView {
  mounts: OciMount[];
  /** NAME=value entries the activation added or changed */
  env: string[];
  args: string[];
  cwd?: string;
}

export interface BundleExplanation {
  kind: 'bundle';
  bundle: string;
  container: string;
  decision: 'skip' | 'activate';
  reason: string;
  environment?: string;
  mode?: string;
  /** which policy rule decided (src/policy) and what it leaves the pod */
  policy?: { rule: string; allowed: boolean; reason?: string; nodeToken?: boolean; substituters?: string[] };
  plan?: { generation: number; commit: string; summary: Record<string, unknown>; spec: SpecView };
  error?: { kind: string; message: string };
}

export interface ContainerExplanation {
  kind: 'container';
  id: string;
  root: string;
  bundle?: string;
  record?: ExecRecord;
  activated?: Record<string, unknown>;
  spec?: SpecView;
  notes: string[];
}

const SKIP_WHY: Record<string, string> = {
  sandbox: 'the pod sandbox (pause) container is never activated',
  'no-environment': 'no flox.dev/environment annotation: runc runs it untouched',
  'skip-containers': 'named in flox.dev/skip-containers: runc runs it untouched',
};

const isFlox = (dest: string) => dest === '/nix' || dest.startsWith('/nix/') || dest === '/run/flox' || dest.startsWith('/run/flox/');

/** The flox part of a spec: mounts under /nix and /run/flox, env that differs from `before`, args. */
export function specView(spec: OciSpec, before?: OciSpec, stateDir?: string): SpecView {
  const old = new Set(before?.process?.env ?? []);
  const ours = (src: string | undefined) => !!src && !!stateDir && src.startsWith(`${stateDir}/`);
  return {
    // ours: everything under /nix and /run/flox, and files provided from the state dir (/bin/sh)
    mounts: (spec.mounts ?? []).filter((m) => isFlox(m.destination) || ours(m.source)),
    env: (spec.process?.env ?? []).filter((e) => !old.has(e)),
    args: spec.process?.args ?? [],
    ...(spec.process?.cwd !== undefined && { cwd: spec.process.cwd }),
  };
}

export async function explainBundle(o: { bundle: string; config: Config; log: Logger; offline: boolean }): Promise<BundleExplanation> {
  const spec = loadSpecFile(join(o.bundle, 'config.json'));
  const before = JSON.parse(JSON.stringify(spec)) as OciSpec;
  const decision = decide(spec.annotations ?? {});
  if (decision.action === 'skip') {
    return { kind: 'bundle', bundle: o.bundle, container: describeContainer(decision.identity), decision: 'skip', reason: SKIP_WHY[decision.reason] ?? decision.reason };
  }
  const r = decision.request;
  const base: BundleExplanation = {
    kind: 'bundle',
    bundle: o.bundle,
    container: describeContainer(r),
    decision: 'activate',
    reason: `flox.dev/environment names ${formatEnvironmentRef(r.environment)}`,
    environment: formatEnvironmentRef(r.environment),
    mode: r.mode,
  };
  const p = decidePolicy(r, o.config.policy);
  base.policy = p.allowed
    ? { rule: describeRule(p.rule), allowed: true, nodeToken: p.nodeToken, ...(p.substituters && { substituters: p.substituters }) }
    : { rule: describeRule(p.rule), allowed: false, reason: p.reason };
  try {
    const res = await activate({ request: r, spec, bundle: o.bundle, config: o.config, log: o.log, dryRun: { offline: o.offline } });
    const s = res.summary;
    return { ...base, plan: { generation: Number(s.generation), commit: String(s.commit), summary: s, spec: specView(res.spec, before, o.config.runtime.stateDir) } };
  } catch (e) {
    return { ...base, error: { kind: isFloxError(e) ? e.kind : 'internal', message: (e as Error).message } };
  }
}

/** The last `activated` line for this container id in the runtime's log. */
export function findActivatedLine(logFile: string, id: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  const needle = `"id":${JSON.stringify(id)}`;
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (!l.includes(needle) || !l.includes('"activated"')) continue;
    try {
      const j = JSON.parse(l) as Record<string, unknown>;
      if (j.msg === 'activated' && j.id === id) return j;
    } catch {
      // a torn line
    }
  }
  return undefined;
}

/** runc's idea of the bundle: state.json, else `runc --root R state ID`. */
async function findBundle(root: string, id: string, delegate: string | undefined, notes: string[]): Promise<string | undefined> {
  const fromState = bundleFromState(root, id);
  if (fromState) return fromState;
  if (!delegate) return undefined;
  try {
    const r = await execa(delegate, ['--root', root, 'state', id], { reject: false, timeout: 10_000 });
    if (r.exitCode === 0) {
      const b = (JSON.parse(r.stdout) as { bundle?: unknown }).bundle;
      if (typeof b === 'string' && b.startsWith('/')) return b;
    } else notes.push(`${delegate} state ${id}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  } catch (e) {
    notes.push(`${delegate} state ${id}: ${(e as Error).message}`);
  }
  return undefined;
}

export async function explainContainer(o: { id: string; root: string; logFile: string; delegate?: string; stateDir?: string }): Promise<ContainerExplanation> {
  if (!isValidContainerId(o.id)) throw new FloxError('usage', `invalid container id ${JSON.stringify(o.id)}`);
  const notes: string[] = [];
  const out: ContainerExplanation = { kind: 'container', id: o.id, root: o.root, notes };
  let known = false;
  try {
    known = statSync(join(o.root, o.id)).isDirectory();
  } catch {
    known = false;
  }
  if (!known) notes.push(`no container ${o.id} under ${o.root} (deleted, or another --root)`);
  const record = known ? readExecRecord(join(o.root, o.id, EXEC_RECORD_FILE)) : undefined;
  if (record) out.record = record;
  else if (known) notes.push(`no ${EXEC_RECORD_FILE}: not activated, or exec'd processes are not activated (flox.dev/skip-containers-exec)`);
  const line = findActivatedLine(o.logFile, o.id);
  if (line) out.activated = line;
  else notes.push(`no "activated" line for ${o.id} in ${o.logFile || '(no log.file)'}`);
  const bundle = known ? await findBundle(o.root, o.id, o.delegate, notes) : undefined;
  if (bundle) {
    out.bundle = bundle;
    try {
      out.spec = specView(loadSpecFile(join(bundle, 'config.json')), undefined, o.stateDir);
    } catch (e) {
      notes.push((e as Error).message);
    }
  }
  return out;
}
