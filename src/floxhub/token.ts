// FloxHub tokens: the pod's `floxhub-token` secret (read on the host through the mount's
// source) takes precedence over the node-wide `floxhub.token-file`. Values are never logged.
//
// The pod's volume is the pod's to shape: an emptyDir or a PVC mounted at the secret's place
// may hold a `floxhub-token` that is a link to another pod's secret or a node file, a FIFO, a
// device, a directory or a huge file. It is read only as a regular file inside the mount's
// source (src/fs/confined-read.ts), links followed only while they stay inside (the kubelet's
// `floxhub-token -> ..data/floxhub-token`, `..data -> ..<timestamp>`); anything else fails the
// container with one message per kind of problem — the same for every link that leaves the
// volume, wherever it points — and never falls back to the node token.
import { FloxError } from '../errors.js';
import { ConfinedReadError, openInside, openTrusted, readOpened } from '../fs/confined-read.js';

export const POD_TOKEN_MOUNT = '/var/run/secrets/flox.dev';
export const POD_TOKEN_KEY = 'floxhub-token';
/** A token is a few hundred bytes; anything longer is not one. */
export const MAX_TOKEN_BYTES = 64 * 1024;

/**
 * Where the pod's token is on the host: the `floxhub-token` key in the directory a volume is
 * mounted from, or (subPath) the file that is mounted at the key itself.
 */
export type PodTokenLocation = { dir: string; key: typeof POD_TOKEN_KEY } | { file: string };

const trimmed = (b: Buffer) => {
  const t = b.toString('utf8').trim();
  return t === '' ? undefined : t;
};

/**
 * The token in an operator's file (the node's floxhub.token-file, the CLI's --token-file):
 * links followed, undefined when missing or empty; a FloxError when it is not a regular file
 * of at most 64 KiB.
 */
export function readTokenFile(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    const fd = openTrusted(path);
    return fd === undefined ? undefined : trimmed(readOpened(fd, MAX_TOKEN_BYTES));
  } catch (e) {
    if (!(e instanceof ConfinedReadError)) throw e;
    throw new FloxError('config', `the FloxHub token file ${path} ${describe(e)}; it must be a regular file of at most 64 KiB`);
  }
}

/** The pod's token, undefined when the pod has none (no mount, no key, an empty file). */
export function readPodToken(location: PodTokenLocation | undefined): string | undefined {
  if (!location) return undefined;
  try {
    const fd = 'file' in location ? openTrusted(location.file) : openInside(location.dir, location.key);
    return fd === undefined ? undefined : trimmed(readOpened(fd, MAX_TOKEN_BYTES));
  } catch (e) {
    if (!(e instanceof ConfinedReadError)) throw e;
    throw new FloxError(
      'spec',
      `the pod's FloxHub token (${POD_TOKEN_KEY} in the volume mounted at ${POD_TOKEN_MOUNT}) ${describe(e)}; ` +
        `it must be a regular file of at most 64 KiB in that volume, as a Kubernetes secret volume provides`,
    );
  }
}

/** The problem in words: only what lies inside the pod's volume, never where a link points. */
function describe(e: ConfinedReadError): string {
  switch (e.problem) {
    case 'escapes':
      return 'is a symbolic link that leads outside its volume';
    case 'dangling':
      return 'is a symbolic link to nothing in its volume';
    case 'loop':
      return 'is a chain of too many symbolic links';
    case 'not-regular':
      return `is ${e.detail}, not a regular file`;
    case 'too-large':
      return 'is larger than 64 KiB';
    case 'unreadable':
      return `cannot be read (${e.detail})`;
    case 'changed':
      return 'changed while it was read';
  }
}

/**
 * The token to use: the pod's, else the node's. An unusable pod token throws (FloxError) rather
 * than falling back: a pod that mounts something at its secret's place meant to give a token.
 */
export function pickToken(sources: { podTokenFile?: PodTokenLocation; configTokenFile?: string }): { token?: string; source: 'pod' | 'config' | 'none' } {
  const pod = readPodToken(sources.podTokenFile);
  if (pod) return { token: pod, source: 'pod' };
  const node = readTokenFile(sources.configTokenFile);
  if (node) return { token: node, source: 'config' };
  return { source: 'none' };
}

export interface MountLike {
  destination?: string;
  source?: string;
  type?: string;
}

/**
 * Where the pod's `floxhub-token` secret is on the host, found through the container's mounts
 * (kubelet bind-mounts the secret volume's directory, or the single key with subPath). The
 * mount source itself is kubelet's (or the container engine's) choice, not the pod's: it is
 * trusted as runc trusts it; what lies inside it is the pod's.
 */
export function podTokenFileFromMounts(mounts: MountLike[] | undefined): PodTokenLocation | undefined {
  const clean = (p: string) => p.replace(/\/+$/, '');
  for (const m of mounts ?? []) {
    if (!m.destination || !m.source || !m.source.startsWith('/')) continue;
    const dest = clean(m.destination);
    if (dest === POD_TOKEN_MOUNT) return { dir: clean(m.source) || '/', key: POD_TOKEN_KEY };
    if (dest === `${POD_TOKEN_MOUNT}/${POD_TOKEN_KEY}`) return { file: m.source };
  }
  return undefined;
}
