// FloxHub tokens: the pod's `floxhub-token` secret (read on the host through the mount's
// source) takes precedence over the node-wide `floxhub.token-file`. Values are never logged.
import { readFileSync } from 'node:fs';

export const POD_TOKEN_MOUNT = '/var/run/secrets/flox.dev';
export const POD_TOKEN_KEY = 'floxhub-token';

/** The token in a file, or undefined when the file is missing or empty. */
export function readTokenFile(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    const t = readFileSync(path, 'utf8').trim();
    return t === '' ? undefined : t;
  } catch {
    return undefined;
  }
}

export function pickToken(sources: { podTokenFile?: string; configTokenFile?: string }): { token?: string; source: 'pod' | 'config' | 'none' } {
  const pod = readTokenFile(sources.podTokenFile);
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
 * The host file behind the pod's `floxhub-token` secret, found through the container's mounts
 * (kubelet bind-mounts the secret volume's directory, or the single key with subPath).
 */
export function podTokenFileFromMounts(mounts: MountLike[] | undefined): string | undefined {
  const clean = (p: string) => p.replace(/\/+$/, '');
  for (const m of mounts ?? []) {
    if (!m.destination || !m.source || !m.source.startsWith('/')) continue;
    const dest = clean(m.destination);
    if (dest === POD_TOKEN_MOUNT) return `${clean(m.source)}/${POD_TOKEN_KEY}`;
    if (dest === `${POD_TOKEN_MOUNT}/${POD_TOKEN_KEY}`) return m.source;
  }
  return undefined;
}
