// File I/O at the edge of the installer. Writes are atomic (temp file in the same directory,
// fsync, rename) so containerd, a concurrent reader or a crash never sees half a file.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FloxError } from '../errors.js';
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

export function modeOf(path: string): number | undefined {
  try {
    return statSync(path).mode & 0o7777;
  } catch {
    return undefined;
  }
}

export function atomicWrite(path: string, data: Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.flox-runtime.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new FloxError('install', `cannot replace ${path}: ${(e as Error).message}`);
  }
  fsyncDir(dirname(path));
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some filesystems refuse fsync on directories; the rename is still atomic
  }
}

/** Applies planned changes in order; no-ops are skipped. Returns the changes actually made. */
export function applyChanges(changes: FileChange[]): FileChange[] {
  const done: FileChange[] = [];
  for (const c of changes) {
    if (isNoop(c)) continue;
    if (c.after === null) rmSync(c.path, { force: true });
    else atomicWrite(c.path, c.after, c.mode ?? modeOf(c.path) ?? 0o644);
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
