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
