// Resolving a path as the container will see it, on the host, without ever following a link
// out of the container's view: absolute link targets are re-rooted in the view, not on the
// host. Used to ask "does the image have /bin/sh?" and "where is the environment's sh?".
import { lstatSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';

/** Container path prefixes and the host directories that back them; '/' is the rootfs. */
export type View = ReadonlyArray<{ containerPrefix: string; hostDir: string }>;

const MAX_LINKS = 40;

function toHost(view: View, containerPath: string): string | undefined {
  let best: { containerPrefix: string; hostDir: string } | undefined;
  for (const v of view) {
    const p = v.containerPrefix;
    const matches = p === '/' || containerPath === p || containerPath.startsWith(`${p}/`);
    if (matches && (!best || p.length > best.containerPrefix.length)) best = v;
  }
  if (!best) return undefined;
  const rest = best.containerPrefix === '/' ? containerPath : containerPath.slice(best.containerPrefix.length);
  return posix.join(best.hostDir, rest);
}

/** The host path of a regular file or directory at `containerPath`, or undefined. */
export function resolveInView(view: View, containerPath: string): string | undefined {
  let parts = posix.normalize(containerPath).split('/').filter(Boolean);
  let done: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const [head, ...tail] = parts as [string, ...string[]];
    const candidate = `/${[...done, head].join('/')}`;
    // an ancestor of a mount point is a directory in the container whatever the rootfs has
    if (view.some((v) => v.containerPrefix.startsWith(`${candidate}/`))) {
      done = [...done, head];
      parts = tail;
      continue;
    }
    const host = toHost(view, candidate);
    if (!host) return undefined;
    let st;
    try {
      st = lstatSync(host);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return undefined;
      const target = readlinkSync(host);
      const base = target.startsWith('/') ? target : posix.join('/', ...done, target);
      parts = [...posix.normalize(base).split('/').filter(Boolean), ...tail];
      done = [];
      continue;
    }
    done = [...done, head];
    parts = tail;
  }
  return toHost(view, `/${done.join('/')}`);
}
