// Replacing a file atomically: a temp file in the same directory (same filesystem, so the
// rename is atomic), fsynced, given the old file's mode and owner, renamed over it, then the
// directory fsynced. A crash, containerd or a concurrent reader sees the old file or the new
// one, never a mix. Every writer of state or config in the runtime goes through here.
// Files that do not outlive the machine's uptime (a container's config.json and exec process
// file under /run, runc's state) skip the fsyncs: atomic still, durable pointlessly.
import { closeSync, fchmodSync, fchownSync, fstatSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FloxError, type FloxErrorKind } from '../errors.js';

export interface AtomicWriteOptions {
  /** Mode of a new file; an existing file keeps its own mode and owner unless `mode` is forced. */
  mode?: number;
  forceMode?: boolean;
  /** Create missing parent directories (0755). */
  mkdir?: boolean;
  /** The FloxError kind to report failures as. */
  errorKind?: FloxErrorKind;
  /** fsync the file and its directory (default true); false for files a reboot discards anyway */
  durable?: boolean;
}

let tmpSeq = 0;

function existing(path: string): { mode: number; uid: number; gid: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } finally {
    closeSync(fd);
  }
}

export function fsyncDir(dir: string): void {
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

export function writeFileAtomic(path: string, content: string | Buffer, opts: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  const kind = opts.errorKind ?? 'internal';
  if (opts.mkdir) mkdirSync(dir, { recursive: true, mode: 0o755 });
  const old = existing(path);
  const mode = opts.forceMode || !old ? (opts.mode ?? 0o644) : old.mode;
  // pid + sequence: unique among live writers; 'wx' below refuses a leftover of a dead one
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${++tmpSeq}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined;
  try {
    // created owner-only (never more open than `mode`, whatever the umask), handed to the old
    // owner, then given the exact mode: fchown clears set-id bits, so fchmod comes last
    fd = openSync(tmp, 'wx', mode & 0o700);
    const buf = typeof content === 'string' ? Buffer.from(content) : content;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (old && !opts.forceMode && process.getuid?.() === 0) fchownSync(fd, old.uid, old.gid);
    fchmodSync(fd, mode);
    if (opts.durable !== false) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw new FloxError(kind, `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  if (opts.durable !== false) fsyncDir(dir);
}
