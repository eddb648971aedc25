// Stage 1, host check: which runtime this node runs, where its config lives, which containerd
// version reads it, and which socket serves CRI. Reads only.
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FloxError } from '../errors.js';
import { goGlobMatch } from './glob.js';
import { hostPath, readIfExists } from './fsio.js';
import type { Exec } from './host-exec.js';
import { importPatterns, parseContainerdVersion, type Version } from './containerd-config.js';
import { K3S_CONTAINERD_DIR } from './k3s-config.js';
import { CRIO_DROPIN, CRIO_DROPIN_DIR, CRIO_MAIN } from './crio-config.js';
import { getTable, parseToml } from './toml-edit.js';
import type { RuntimeKind } from './types.js';

export const CONTAINERD_CONFIG = '/etc/containerd/config.toml';
export const DROPIN_NAME = '99-flox-runtime.toml';
export const SOCKETS: Record<RuntimeKind, string> = {
  containerd: '/run/containerd/containerd.sock',
  k3s: '/run/k3s/containerd/containerd.sock',
  rke2: '/run/k3s/containerd/containerd.sock',
  crio: '/run/crio/crio.sock',
};

export function detectRuntime(hostRoot: string, explicitConfig?: string): RuntimeKind {
  const has = (p: string) => existsSync(hostPath(hostRoot, p));
  if (explicitConfig) return 'containerd';
  if (has(`${K3S_CONTAINERD_DIR.rke2}/config.toml`) || has('/etc/rancher/rke2')) return 'rke2';
  if (has(`${K3S_CONTAINERD_DIR.k3s}/config.toml`) || has('/etc/rancher/k3s')) return 'k3s';
  if (has(SOCKETS.crio) && !has(SOCKETS.containerd)) return 'crio';
  if (has(SOCKETS.containerd) || has('/etc/containerd')) return 'containerd';
  if (has('/etc/crio')) return 'crio';
  throw new FloxError('install', 'cannot tell which container runtime this node uses (no containerd, k3s, rke2 or CRI-O found); pass --runtime');
}

export async function containerdVersion(exec: Exec, explicit?: string): Promise<{ version: Version | null; source: string }> {
  if (explicit) {
    const v = parseContainerdVersion(explicit);
    if (!v) throw new FloxError('install', `--containerd-version ${JSON.stringify(explicit)} is not a version like 1.7.2`);
    return { version: v, source: 'option' };
  }
  const r = await exec(['containerd', '--version'], { timeoutMs: 30_000 });
  const v = r.exitCode === 0 ? parseContainerdVersion(r.stdout) : null;
  return { version: v, source: v ? `containerd --version: ${r.stdout.trim()}` : 'unknown (containerd --version failed)' };
}

/** Files a containerd config imports, read through the host root, in containerd's order. */
export function resolveImports(hostRoot: string, mainPath: string, mainText: string, exclude: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  for (const pattern of importPatterns(parseToml(mainText, mainPath), mainPath)) {
    let paths: string[];
    if (/[*?[]/.test(pattern)) {
      let names: string[] = [];
      try {
        names = readdirSync(hostPath(hostRoot, dirname(pattern))).sort();
      } catch {
        names = [];
      }
      paths = names.map((n) => join(dirname(pattern), n)).filter((p) => goGlobMatch(pattern, p));
    } else paths = [pattern];
    for (const p of paths) {
      if (p === exclude || out.some((o) => o.path === p)) continue;
      const data = readIfExists(hostPath(hostRoot, p));
      if (data !== null) out.push({ path: p, text: data.toString('utf8') });
    }
  }
  return out;
}

export function containerdSocketFromConfig(text: string | null, fallback: string): string {
  if (text === null) return fallback;
  try {
    const addr = getTable(parseToml(text, 'containerd config'), ['grpc'])?.address;
    return typeof addr === 'string' && addr.startsWith('/') ? addr : fallback;
  } catch {
    return fallback;
  }
}

export function crioDropins(hostRoot: string): { path: string; text: string }[] {
  let names: string[] = [];
  try {
    names = readdirSync(hostPath(hostRoot, CRIO_DROPIN_DIR)).sort();
  } catch {
    return [];
  }
  return names
    .map((n) => join(CRIO_DROPIN_DIR, n))
    .filter((p) => p !== CRIO_DROPIN && !basename(p).startsWith('.'))
    .flatMap((p) => {
      const d = readIfExists(hostPath(hostRoot, p));
      return d === null ? [] : [{ path: p, text: d.toString('utf8') }];
    });
}

export { CRIO_MAIN };
