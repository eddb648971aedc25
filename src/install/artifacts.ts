// The runtime's files on the host: the sh front end, the Node bundle (+ source map) and,
// optionally, the Node binary the front end should use. Each is written tmp + rename, so a
// container start running the old file keeps its inode and never sees a half-written one.
import { existsSync, readdirSync, readFileSync, statSync, type Dirent } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FloxError } from '../errors.js';
import { hostPath, readIfExists } from './fsio.js';
import type { FileChange } from './types.js';

export const DEFAULT_INSTALL_ROOT = '/opt/flox-runtime';
/** Text file holding the absolute path of the Node binary bin/flox-runtime should run. */
export const NODE_PATH_SETTING = 'etc/node-path';
/** Where a copied Node binary goes. */
export const BUNDLED_NODE = 'libexec/node';

export interface ArtifactSpec {
  rel: string;
  mode: number;
  required: boolean;
}

export const ENTRY = 'dist/flox-runtime.mjs';

/** Fixed files; every other file under dist/ (the bundle's chunks) is copied as well. */
export const ARTIFACTS: ArtifactSpec[] = [
  { rel: ENTRY, mode: 0o755, required: true },
  { rel: `${ENTRY}.map`, mode: 0o644, required: false },
  { rel: 'bin/flox-runtime', mode: 0o755, required: true },
  { rel: NODE_PATH_SETTING, mode: 0o644, required: false },
];

/** Files under `dir`, relative to it, sorted; [] when it does not exist. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(d, e.name), rel);
      else if (e.isFile()) out.push(rel);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** The package root (holding bin/ and dist/) of the running code: dist/… or src/install/…. */
export function findSourceRoot(from: string = dirname(fileURLToPath(import.meta.url))): string | null {
  let d = resolve(from);
  for (;;) {
    if (existsSync(join(d, 'bin', 'flox-runtime')) && existsSync(join(d, 'dist', 'flox-runtime.mjs'))) return d;
    const up = dirname(d);
    if (up === d) return null;
    d = up;
  }
}

export type NodeChoice = { kind: 'none' } | { kind: 'copy'; from: string } | { kind: 'path'; path: string };

/**
 * Plans the artifact files under `installRoot` (a host path). `node`: 'copy' installs the given
 * Node binary (the DaemonSet's own, since hosts often have none) and points the setting at it;
 * 'path' points the setting at a Node already on the host; 'none' copies the source's setting
 * file if it has one.
 */
export function planArtifacts(opts: { hostRoot: string; installRoot: string; source: string; node: NodeChoice }): FileChange[] {
  const dest = (rel: string) => hostPath(opts.hostRoot, join(opts.installRoot, rel));
  const file = (rel: string, mode: number, reason: string, required: boolean): FileChange | null => {
    const data = readIfExists(join(opts.source, rel));
    if (data === null) {
      if (required) throw new FloxError('install', `runtime artifact ${join(opts.source, rel)} is missing; build the runtime first (npm run build)`);
      return null;
    }
    return { path: dest(rel), before: readIfExists(dest(rel)), after: data, mode, forceMode: true, reason, summary: true };
  };
  const changes: FileChange[] = [];
  // chunks first, then the entry that names them, then the front end: a container start
  // sees either the old set or the new one, never an entry whose chunks are missing
  const fixed = new Set(ARTIFACTS.map((a) => a.rel));
  // V8 code caches are the runtime's own (written on first use, per Node): never copied, never
  // "an older build" (artifactPaths still lists them, so uninstall removes them)
  const isRuntimeCache = (f: string) => f.endsWith('.v8cache') || f.endsWith('.tmp');
  const distFiles = listFiles(join(opts.source, 'dist'))
    .filter((f) => !isRuntimeCache(f))
    .map((f) => `dist/${f}`);
  for (const rel of distFiles.filter((f) => !fixed.has(f))) changes.push(file(rel, 0o644, 'runtime bundle chunk', true)!);
  for (const a of ARTIFACTS) {
    if (a.rel === NODE_PATH_SETTING && opts.node.kind !== 'none') {
      const nodePath = opts.node.kind === 'copy' ? join(opts.installRoot, BUNDLED_NODE) : opts.node.path;
      changes.push({ path: dest(a.rel), before: readIfExists(dest(a.rel)), after: Buffer.from(`${nodePath}\n`), mode: a.mode, forceMode: true, reason: 'Node binary used by bin/flox-runtime', summary: true });
      continue;
    }
    const c = file(a.rel, a.mode, `runtime file ${a.rel}`, a.required);
    if (c) changes.push(c);
  }
  if (opts.node.kind === 'copy') {
    const data = readFileSync(opts.node.from);
    changes.push({ path: dest(BUNDLED_NODE), before: readIfExists(dest(BUNDLED_NODE)), after: data, mode: statSync(opts.node.from).mode & 0o755, forceMode: true, reason: 'Node binary for the runtime', summary: true });
  }
  // chunks of an older build, last (their names carry content hashes)
  const wanted = new Set(distFiles);
  for (const f of listFiles(hostPath(opts.hostRoot, join(opts.installRoot, 'dist'))).filter((f) => !isRuntimeCache(f))) {
    const rel = `dist/${f}`;
    if (!wanted.has(rel)) changes.push({ path: dest(rel), before: readIfExists(dest(rel)), after: null, reason: 'chunk of an older build', summary: true });
  }
  return changes;
}

/** Every artifact path the installer may have written (installer view), for removal. */
export function artifactPaths(hostRoot: string, installRoot: string): string[] {
  const installed = listFiles(hostPath(hostRoot, join(installRoot, 'dist'))).map((f) => `dist/${f}`);
  const rels = [...new Set([...installed, ...ARTIFACTS.map((a) => a.rel), BUNDLED_NODE])];
  return rels.map((rel) => hostPath(hostRoot, join(installRoot, rel)));
}
