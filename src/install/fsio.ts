// File I/O at the edge of the installer. Writes are atomic (temp file in the same directory,
// fsync, rename) so containerd, a concurrent reader or a crash never sees half a file.
import { readdirSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { FloxError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { isNoop, type FileChange } from './types.js';

/** `p` (an absolute path on the host) as seen from the installer, under `hostRoot`. */
export function hostPath(hostRoot: string, p: string): string {
  if (!p.startsWith('/')) throw new FloxError('install', `expected an absolute host path, got ${JSON.stringify(p)}`);
  const root = resolve(hostRoot);
  return root === sep ? resolve(p) : join(root, p);
}

export function readIfExists(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FloxError('install', `cannot read ${path}: ${(e as Error).message}`);
  }
}

/**
 * `mode` is for a new file; an existing one keeps its mode and owner (a 0600 containerd config
 * holding registry credentials stays 0600) unless `force` (the runtime's own files).
 */
export function atomicWrite(path: string, data: Buffer, mode = 0o644, force = false): void {
  writeFileAtomic(path, data, { mode, forceMode: force, mkdir: true, errorKind: 'install' });
}

/** Applies planned changes in order; no-ops are skipped. Returns the changes actually made. */
export function applyChanges(changes: FileChange[]): FileChange[] {
  const done: FileChange[] = [];
  for (const c of changes) {
    if (isNoop(c)) continue;
    if (c.after === null) rmSync(c.path, { force: true });
    else atomicWrite(c.path, c.after, c.mode ?? 0o644, c.forceMode ?? false);
    done.push(c);
  }
  return done;
}

/** Removes `dir` and its parents up to (not including) `stopAt` while they are empty. */
export function removeEmptyDirs(dir: string, stopAt: string): void {
  let d = resolve(dir);
  const stop = resolve(stopAt);
  const prefix = stop.endsWith(sep) ? stop : stop + sep;
  while (d.startsWith(prefix) || d === stop) {
    if (d === stop) return;
    try {
      rmdirSync(d);
    } catch {
      return; // not empty or gone: either way stop here
    }
    d = dirname(d);
  }
}

/** Removes every empty directory under `dir`, bottom-up, and `dir` itself when it ends up empty. */
export function removeEmptyTree(dir: string): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeEmptyTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // not empty: something that is not ours
  }
}
