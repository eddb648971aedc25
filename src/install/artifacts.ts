// The runtime's files on the host: the sh front end, the Node bundle (+ source map) and,
// optionally, the Node binary the front end should use. Each is written tmp + rename, so a
// container start running the old file keeps its inode and never sees a half-written one.
import { existsSync, readFileSync, statSync } from 'node:fs';
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

export const ARTIFACTS: ArtifactSpec[] = [
  { rel: 'bin/flox-runtime', mode: 0o755, required: true },
  { rel: 'dist/flox-runtime.mjs', mode: 0o755, required: true },
  { rel: 'dist/flox-runtime.mjs.map', mode: 0o644, required: false },
  { rel: NODE_PATH_SETTING, mode: 0o644, required: false },
];

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
  const changes: FileChange[] = [];
  for (const a of ARTIFACTS) {
    const dest = hostPath(opts.hostRoot, join(opts.installRoot, a.rel));
    if (a.rel === NODE_PATH_SETTING && opts.node.kind !== 'none') {
      const nodePath = opts.node.kind === 'copy' ? join(opts.installRoot, BUNDLED_NODE) : opts.node.path;
      changes.push({ path: dest, before: readIfExists(dest), after: Buffer.from(`${nodePath}\n`), mode: a.mode, reason: 'Node binary used by bin/flox-runtime' });
      continue;
    }
    const src = join(opts.source, a.rel);
    const data = readIfExists(src);
    if (data === null) {
      if (a.required) throw new FloxError('install', `runtime artifact ${src} is missing; build the runtime first (npm run build)`);
      continue;
    }
    changes.push({ path: dest, before: readIfExists(dest), after: data, mode: a.mode, reason: `runtime file ${a.rel}` });
  }
  if (opts.node.kind === 'copy') {
    const dest = hostPath(opts.hostRoot, join(opts.installRoot, BUNDLED_NODE));
    const data = readFileSync(opts.node.from);
    changes.push({ path: dest, before: readIfExists(dest), after: data, mode: statSync(opts.node.from).mode & 0o755, reason: 'Node binary for the runtime' });
  }
  return changes;
}

/** Every artifact path the installer may have written, for removal. */
export function artifactPaths(hostRoot: string, installRoot: string): string[] {
  return [...ARTIFACTS.map((a) => a.rel), BUNDLED_NODE].map((rel) => hostPath(hostRoot, join(installRoot, rel)));
}
