// Reading, as root, a small file that a tenant controls: the pod's token in its own volume.
// Node has no openat(2), but `/proc/self/fd/<dirfd>/<name>` is the same lookup: the kernel
// jumps to the directory that descriptor holds and resolves `name` there. So the path is walked
// one component at a time, each opened O_PATH|O_NOFOLLOW relative to the descriptor of the
// directory before it. Symbolic links are never followed by the kernel: their targets are
// resolved here, against the stack of directories already held, and refused as soon as they
// would leave the root (an absolute target must lie under the root's own path). This is
// race-free: every step acts on a directory the walk already holds open, so replacing a
// directory, a link or the file itself with something else after it was looked at changes
// nothing the walk uses; a path outside the root is never looked up (so no answer tells
// whether a host path exists); and what is read is the inode the last open returned, checked
// through its descriptor (fstat; /proc/self/fd readlink must lie under the root's path).
// O_PATH opens nothing: a FIFO does not block, a device's open has no side effect; only a
// regular file, at most `maxBytes` long, is then opened for reading (through the same descriptor,
// O_NONBLOCK), so no read can wait or grow without bound.
import { closeSync, constants, fstatSync, openSync, readSync, readlinkSync, type Stats } from 'node:fs';
import { posix } from 'node:path';

/** Linux's O_PATH (not in fs.constants): a descriptor for a place in the tree, nothing opened. */
const O_PATH = 0o10000000;
/** As the kernel's limit on links in one lookup. */
const MAX_LINKS = 40;

export type ConfinedReadProblem =
  | 'escapes' // a symbolic link leads outside the root
  | 'dangling' // a link or a path component leads to nothing (inside the root)
  | 'loop' // more than MAX_LINKS links
  | 'not-regular' // a FIFO, device, socket or directory
  | 'too-large'
  | 'unreadable'
  | 'changed'; // it changed between two steps of the read

export class ConfinedReadError extends Error {
  override readonly name = 'ConfinedReadError';
  constructor(
    readonly problem: ConfinedReadProblem,
    /** for not-regular: what it is ("a FIFO"); for unreadable: the errno code */
    readonly detail?: string,
  ) {
    super(detail ? `${problem}: ${detail}` : problem);
  }
}

const fdPath = (fd: number) => `/proc/self/fd/${fd}`;
const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** What a non-regular file is, for the message (only ever said of a file inside the root). */
export function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** The components of a link target or relative path, in order ('' and '.' dropped). */
const components = (p: string) => p.split('/').filter((c) => c !== '' && c !== '.');

/**
 * Where a link target leads, as components relative to the root, or undefined when it leaves
 * it. `at` is the directory holding the link, as components below the root (all real
 * directories: a `..` there is its parent). Pure: decides from the strings alone.
 */
export function clampTarget(rootPath: string, at: string[], target: string): string[] | undefined {
  let base: string[];
  let rest: string[];
  if (target.startsWith('/')) {
    const root = rootPath === '/' ? '' : rootPath;
    if (target !== root && !target.startsWith(`${root}/`)) return undefined;
    base = [];
    rest = target.slice(root.length).split('/');
  } else {
    base = [...at];
    rest = target.split('/');
  }
  for (const c of rest) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (base.length === 0) return undefined;
      base.pop();
    } else base.push(c);
  }
  return base;
}

/**
 * An O_PATH descriptor for `rel` under the directory `root`, never leaving it. Returns
 * undefined when `rel`'s first component is simply absent from the root (no file, no link);
 * anything else that keeps it from being a file inside the root throws ConfinedReadError.
 */
export function openInside(root: string, rel: string): number | undefined {
  let rootFd: number;
  try {
    rootFd = openSync(root, O_PATH | constants.O_DIRECTORY);
  } catch (e) {
    if (code(e) === 'ENOENT') return undefined;
    throw new ConfinedReadError('unreadable', code(e));
  }
  const dirs: number[] = [rootFd]; // the root and the directories below it, as walked
  const names: string[] = []; // their names below the root
  try {
    const rootPath = readlinkSync(fdPath(rootFd));
    let queue = components(rel);
    let links = 0;
    let first = true;
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (name === '..') {
        if (dirs.length === 1) throw new ConfinedReadError('escapes');
        closeSync(dirs.pop()!);
        names.pop();
        continue;
      }
      const at = `${fdPath(dirs.at(-1)!)}/${name}`; // openat(dir, name)
      let fd: number;
      try {
        fd = openSync(at, O_PATH | constants.O_NOFOLLOW);
      } catch (e) {
        if (code(e) === 'ENOENT') {
          if (first) return undefined;
          throw new ConfinedReadError('dangling');
        }
        throw new ConfinedReadError('unreadable', code(e));
      }
      first = false;
      const st = fstatSync(fd);
      if (st.isSymbolicLink()) {
        closeSync(fd);
        if (++links > MAX_LINKS) throw new ConfinedReadError('loop');
        let target: string;
        try {
          target = readlinkSync(at); // readlinkat(dir, name): a swapped entry only changes the string
        } catch {
          throw new ConfinedReadError('changed');
        }
        const to = clampTarget(rootPath, names, target);
        if (!to) throw new ConfinedReadError('escapes');
        // the link's target replaces it: walk again from the root (the directories are the same)
        while (dirs.length > 1) closeSync(dirs.pop()!);
        names.length = 0;
        queue = [...to, ...queue];
        continue;
      }
      if (queue.length === 0) return checkedInside(fd, rootPath);
      if (!st.isDirectory()) {
        closeSync(fd);
        throw new ConfinedReadError('dangling');
      }
      dirs.push(fd);
      names.push(name);
    }
    // `rel` (or a link) led to a directory itself: the caller's type check refuses it
    return checkedInside(openSync(fdPath(dirs.at(-1)!), O_PATH), rootPath);
  } finally {
    for (const d of dirs) closeSync(d);
  }
}

/** The descriptor, once the kernel's own path for it is under the root (a second, independent check). */
function checkedInside(fd: number, rootPath: string): number {
  let path: string;
  try {
    path = readlinkSync(fdPath(fd));
  } catch (e) {
    closeSync(fd);
    throw new ConfinedReadError('unreadable', code(e));
  }
  const under = rootPath === '/' || path === rootPath || path.startsWith(`${rootPath}/`);
  if (!under) {
    closeSync(fd);
    throw new ConfinedReadError('escapes');
  }
  return fd;
}

/** An O_PATH descriptor for a path the caller trusts (links followed), or undefined when absent. */
export function openTrusted(path: string): number | undefined {
  try {
    return openSync(path, O_PATH);
  } catch (e) {
    if (code(e) === 'ENOENT') return undefined;
    throw new ConfinedReadError('unreadable', code(e));
  }
}

/**
 * The contents of the file an O_PATH descriptor holds, when it is a regular file of at most
 * `maxBytes`; closes the descriptor. The reopen goes through /proc/self/fd, so it is the same
 * inode whatever happened to its name meanwhile (checked again after the open).
 */
export function readOpened(pathFd: number, maxBytes: number): Buffer {
  try {
    const st = fstatSync(pathFd);
    if (!st.isFile()) throw new ConfinedReadError('not-regular', kindOf(st));
    if (st.size > maxBytes) throw new ConfinedReadError('too-large');
    let fd: number;
    try {
      fd = openSync(fdPath(pathFd), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (e) {
      throw new ConfinedReadError('unreadable', code(e));
    }
    try {
      const again = fstatSync(fd);
      if (again.ino !== st.ino || again.dev !== st.dev || !again.isFile()) throw new ConfinedReadError('changed');
      // one byte more than allowed tells a file that grew since the fstat
      const buf = Buffer.alloc(maxBytes + 1);
      let n = 0;
      for (;;) {
        let got: number;
        try {
          got = readSync(fd, buf, n, buf.length - n, n);
        } catch (e) {
          throw new ConfinedReadError('unreadable', code(e));
        }
        if (got === 0) break;
        n += got;
        if (n > maxBytes) throw new ConfinedReadError('too-large');
      }
      return buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  } finally {
    closeSync(pathFd);
  }
}
