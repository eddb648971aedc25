// `doctor` probes: the I/O that gathers facts for the judgements in doctor.ts. Every network
// probe is one bounded GET; nothing is written except a probe file in the state dir.
import { accessSync, constants, existsSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { HttpTimeoutError, get as httpGet, readBody } from '../net/http1.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/schema.js';
import { findDelegate } from '../oci/delegate.js';
import { hostPath, readIfExists } from '../install/fsio.js';
import { CONTAINERD_CONFIG, crioDropins, CRIO_MAIN, detectRuntime, resolveImports } from '../install/host-check.js';
import { CRIO_DROPIN } from '../install/crio-config.js';
import { K3S_CONTAINERD_DIR } from '../install/k3s-config.js';
import { parseToml, type TomlTable } from '../install/toml-edit.js';
import type { RuntimeKind } from '../install/types.js';
import { parseCacheInfo } from '../nix/narinfo.js';
import { type CheckResult, fail, judgeClock, judgeContainerdHandler, judgeCrioHandler, judgeDisk, judgePolicy, pass, warn } from './doctor.js';
import { loadSpecFile } from '../oci/spec.js';
import { podNamespace } from '../pod/namespace.js';
import { bundleFromState, KNOWN_RUNC_ROOTS } from './running.js';

export interface DoctorOptions {
  config: Config;
  configSource: string;
  hostRoot: string;
  runtime: RuntimeKind | 'auto';
  containerdConfig?: string;
  timeoutMs: number;
  /** skip the container runtime config check (e.g. a node without containerd in tests) */
  skipCri?: boolean;
}

export interface HttpProbe {
  status?: number;
  date?: string;
  body?: string;
  error?: string;
}

/**
 * One GET, bounded in time and body size; never throws. Through the runtime's own client, so
 * that it sees what a container start would: the same proxies (HTTPS_PROXY, NO_PROXY) and CAs.
 */
export async function probeHttp(url: string, timeoutMs: number, maxBody = 64 * 1024): Promise<HttpProbe> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { error: `invalid URL ${url}` };
  }
  const t0 = Date.now();
  try {
    const res = await httpGet(u, { headers: { 'user-agent': 'flox-runtime-doctor' }, timeoutMs });
    // one deadline for the whole probe: the body gets what the head left of it
    const body = await readBody(res, { timeoutMs: Math.max(1, timeoutMs - (Date.now() - t0)), maxBytes: maxBody, overflow: 'truncate' });
    const date = res.headers.get('date');
    return { status: res.status, ...(date && { date }), body: body.toString('utf8') };
  } catch (e) {
    if (e instanceof HttpTimeoutError) return { error: `no answer within ${timeoutMs} ms` };
    const err = e as NodeJS.ErrnoException;
    return { error: err.code ? `${err.code}: ${err.message}` : err.message };
  }
}

function isExecutableOn(hostRoot: string): (p: string) => boolean {
  return (p) => {
    try {
      const h = hostPath(hostRoot, p);
      accessSync(h, constants.X_OK);
      return statSync(h).isFile();
    } catch {
      return false;
    }
  };
}

function merge(to: TomlTable, from: TomlTable): TomlTable {
  const out: TomlTable = { ...to };
  const tbl = (x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Date);
  for (const [k, v] of Object.entries(from)) out[k] = tbl(out[k]) && tbl(v) ? merge(out[k] as TomlTable, v as TomlTable) : v;
  return out;
}

export function checkCri(o: Pick<DoctorOptions, 'hostRoot' | 'runtime' | 'containerdConfig'>): CheckResult[] {
  let kind: RuntimeKind;
  try {
    kind = o.runtime === 'auto' ? detectRuntime(o.hostRoot, o.containerdConfig) : o.runtime;
  } catch (e) {
    return [warn('cri-handler', (e as Error).message, 'pass --runtime and --containerd-config, or run doctor on a Kubernetes node')];
  }
  const exe = isExecutableOn(o.hostRoot);
  try {
    if (kind === 'crio') {
      const main = readIfExists(hostPath(o.hostRoot, CRIO_MAIN));
      let eff: TomlTable = main ? parseToml(main.toString('utf8'), CRIO_MAIN) : {};
      const ours = readIfExists(hostPath(o.hostRoot, CRIO_DROPIN));
      for (const d of [...crioDropins(o.hostRoot), ...(ours ? [{ path: CRIO_DROPIN, text: ours.toString('utf8') }] : [])]) eff = merge(eff, parseToml(d.text, d.path));
      return judgeCrioHandler(eff, `CRI-O config (${CRIO_MAIN} + crio.conf.d)`, exe);
    }
    const mainPath = kind === 'containerd' ? (o.containerdConfig ?? CONTAINERD_CONFIG) : `${K3S_CONTAINERD_DIR[kind]}/config.toml`;
    const text = readIfExists(hostPath(o.hostRoot, mainPath));
    if (text === null) return [fail('cri-handler', `${kind} config ${mainPath} does not exist`, 'run `flox-runtime install` (or pass --containerd-config)')];
    let eff = parseToml(text.toString('utf8'), mainPath);
    for (const imp of resolveImports(o.hostRoot, mainPath, text.toString('utf8'), '')) eff = merge(eff, parseToml(imp.text, imp.path));
    return judgeContainerdHandler(eff, `${kind} config ${mainPath}`, exe);
  } catch (e) {
    return [fail('cri-handler', `cannot read the ${kind} config: ${(e as Error).message}`, 'fix the config file syntax')];
  }
}

export function checkDelegate(config: Config, pathEnv = process.env.PATH ?? ''): CheckResult {
  try {
    return pass('delegate', `runtime.delegate resolves to ${findDelegate(config.runtime.delegate, pathEnv)}`);
  } catch (e) {
    return fail('delegate', (e as Error).message, 'install runc, or set runtime.delegate to its absolute path');
  }
}

export function checkStateDir(stateDir: string): CheckResult {
  try {
    if (!statSync(stateDir).isDirectory()) return fail('state-dir', `${stateDir} is not a directory`, `remove it and let flox-runtime create the directory`);
  } catch {
    return fail('state-dir', `${stateDir} does not exist`, `create it: mkdir -p ${stateDir} (or run \`flox-runtime env pull\` as root)`);
  }
  const probe = join(stateDir, `.doctor-${process.pid}`);
  try {
    writeFileSync(probe, 'ok');
    rmSync(probe, { force: true });
    return pass('state-dir', `${stateDir} exists and is writable`);
  } catch (e) {
    return fail('state-dir', `${stateDir} is not writable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'run as root, or fix the permissions / read-only mount of the state dir');
  }
}

export function checkDisk(stateDir: string): CheckResult {
  try {
    // the filesystem the state dir is (or will be) on
    let at = stateDir;
    while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
    const s = statfsSync(at);
    return judgeDisk(stateDir, s.bavail * s.bsize, s.blocks * s.bsize);
  } catch (e) {
    return warn('disk', `cannot statfs ${stateDir}: ${(e as Error).message}`, 'create the state dir first');
  }
}

export async function checkFloxhub(config: Config, timeoutMs: number, now: () => number = Date.now): Promise<CheckResult[]> {
  const url = config.floxhub.gitUrl;
  const t0 = now();
  const r = await probeHttp(url, timeoutMs, 4096);
  if (r.error !== undefined || r.status === undefined) {
    return [
      fail('floxhub', `${url} unreachable: ${r.error}`, 'check the node network, proxy and floxhub.git-url; pods can still start from cached generations'),
      warn('clock', 'not checked (FloxHub unreachable)', 'check the node time with `timedatectl`'),
    ];
  }
  const ms = now() - t0;
  const reach = r.status >= 500
    ? fail('floxhub', `${url} answered HTTP ${r.status}`, 'FloxHub has a problem; retry later or check floxhub.git-url')
    : pass('floxhub', `${url} reachable (HTTP ${r.status}, ${ms} ms)`);
  // the Date header was produced about halfway through the request
  return [reach, judgeClock(r.date, t0 + ms / 2, url)];
}

export async function checkSubstituters(config: Config, timeoutMs: number): Promise<CheckResult[]> {
  if (config.runtime.storeMode === 'nix') return [pass('substituters', 'store-mode = "nix": the host Nix substitutes')];
  if (!config.nix.substituters.length) return [fail('substituters', 'nix.substituters is empty', 'configure at least one binary cache')];
  return Promise.all(
    config.nix.substituters.map(async (sub): Promise<CheckResult> => {
      const name = `substituter ${sub}`;
      const base = sub.replace(/\/+$/, '');
      let text: string;
      if (base.startsWith('file://')) {
        try {
          text = readFileSync(join(fileURLToPath(base), 'nix-cache-info'), 'utf8');
        } catch (e) {
          return fail(name, `cannot read nix-cache-info: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'fix the path in nix.substituters');
        }
      } else {
        const r = await probeHttp(`${base}/nix-cache-info`, timeoutMs);
        if (r.error !== undefined) return fail(name, `unreachable: ${r.error}`, 'check the node network/proxy and nix.substituters');
        if (r.status !== 200) return fail(name, `nix-cache-info answered HTTP ${r.status}`, 'check the URL in nix.substituters (is it a Nix binary cache?)');
        text = r.body ?? '';
      }
      try {
        const info = parseCacheInfo(text, `${base}/nix-cache-info`);
        if (info.storeDir !== '/nix/store') return fail(name, `StoreDir is ${info.storeDir}, not /nix/store`, 'use a cache built for /nix/store');
        return pass(name, `nix-cache-info OK (Priority ${info.priority})`);
      } catch (e) {
        return fail(name, (e as Error).message, 'check the URL in nix.substituters (is it a Nix binary cache?)');
      }
    }),
  );
}

/** Namespaces of the containers on the node that name a Flox environment (runc roots, read only). */
export function floxNamespaces(hostRoot: string, roots: readonly string[] = KNOWN_RUNC_ROOTS): string[] {
  const out = new Set<string>();
  for (const root of roots) {
    let ids: string[];
    try {
      ids = readdirSync(hostPath(hostRoot, root));
    } catch {
      continue;
    }
    for (const id of ids) {
      const bundle = bundleFromState(hostPath(hostRoot, root), id);
      if (!bundle) continue;
      try {
        const ann = loadSpecFile(join(hostPath(hostRoot, bundle), 'config.json')).annotations ?? {};
        const ns = podNamespace(ann);
        if (ann['flox.dev/environment'] !== undefined && 'namespace' in ns) out.add(ns.namespace);
      } catch {
        // gone meanwhile, or not readable: not counted
      }
    }
  }
  return [...out].sort();
}

export function checkPolicy(config: Config, hostRoot: string): CheckResult {
  return judgePolicy(config.policy, config.floxhub.tokenFile !== '', config.policy.mode === 'off' ? floxNamespaces(hostRoot) : []);
}

/** A config that failed to load never gets here (the caller reports it); an absent one did load: as defaults. */
export function checkConfigFile(path: string): CheckResult {
  return existsSync(path) ? pass('config', `${path} loaded`) : pass('config', `no config file at ${path}: every key has its default`);
}

export async function runDoctor(o: DoctorOptions): Promise<CheckResult[]> {
  const c = o.config;
  const results: CheckResult[] = [checkConfigFile(o.configSource), checkDelegate(c)];
  if (!o.skipCri) results.push(...checkCri(o));
  results.push(checkStateDir(c.runtime.stateDir));
  const [hub, subs] = await Promise.all([checkFloxhub(c, o.timeoutMs), checkSubstituters(c, o.timeoutMs)]);
  results.push(...hub, ...subs, checkDisk(c.runtime.stateDir), checkPolicy(c, o.hostRoot));
  return results;
}
