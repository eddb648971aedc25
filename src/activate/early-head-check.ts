// Sends the FloxHub head check of a container's environment before the activation machinery
// is loaded, so the round trip and the module set-up overlap (see floxhub/head-check.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import { type HeadCheck, startHeadCheck } from '../floxhub/head-check.js';
import { pickToken, podTokenFileFromMounts } from '../floxhub/token.js';
import type { OciSpec } from '../oci/spec.js';
import type { PodRequest } from '../pod/request.js';

/** Longest wait for the request to be on the wire before the caller goes on with synchronous work. */
const SEND_WAIT_MS = 15;

/**
 * The head check for a live generation, sent; undefined for a pinned one (a cached pin needs no
 * network) or when the token cannot be read (the pipeline then reports that itself).
 */
export async function sendHeadCheck(request: PodRequest, spec: OciSpec, config: Config): Promise<HeadCheck | undefined> {
  if (request.environment.generation !== undefined) return undefined;
  let token: string | undefined;
  try {
    token = pickToken({ podTokenFile: podTokenFileFromMounts(spec.mounts), configTokenFile: config.floxhub.tokenFile || undefined }).token;
  } catch {
    return undefined;
  }
  const check = startHeadCheck(config.floxhub.gitUrl, request.environment.owner, { token, timeoutMs: config.floxhub.timeoutMs });
  // the event loop must run to connect and write the request; module loading would block it
  const ac = new AbortController();
  await Promise.race([check.sent, sleep(SEND_WAIT_MS, undefined, { signal: ac.signal }).catch(() => {})]);
  ac.abort();
  return check;
}
