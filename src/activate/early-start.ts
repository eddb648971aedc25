// What a container start can set going before the activation machinery is loaded (tens of ms
// of module set-up): the FloxHub head check (a network round trip, see floxhub/head-check.ts)
// and the node's gc lock, taken shared (a flock process). Both then overlap the loading.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import { type HeadCheck, startHeadCheck } from '../floxhub/head-check.js';
import { pickToken, podTokenFileFromMounts } from '../floxhub/token.js';
import type { OciSpec } from '../oci/spec.js';
import { holdGcShared, type PendingLock } from '../ops/gc-lock.js';
import type { PodRequest } from '../pod/request.js';
import { enforcePolicy, nodeTokenFile, type Allowed } from '../policy/index.js';

/** Longest wait for the request to be on the wire before the caller goes on with synchronous work. */
const SEND_WAIT_MS = 15;

export interface EarlyStart {
  /** absent for a pinned generation (a cached pin needs no network) or an unreadable token */
  headCheck?: HeadCheck;
  gcLock: PendingLock;
}

export async function startEarly(request: PodRequest, spec: OciSpec, config: Config, containerId?: string): Promise<EarlyStart> {
  // before anything leaves the node: a refused pod causes no request, with no token
  const allowed = enforcePolicy(request, config, containerId);
  const headCheck = sendHeadCheck(request, spec, config, allowed);
  if (headCheck) {
    // the event loop must run to connect and write the request; spawning and loading block it
    const ac = new AbortController();
    await Promise.race([headCheck.sent, sleep(SEND_WAIT_MS, undefined, { signal: ac.signal }).catch(() => {})]);
    ac.abort();
  }
  return { ...(headCheck && { headCheck }), gcLock: holdGcShared(config) };
}

function sendHeadCheck(request: PodRequest, spec: OciSpec, config: Config, allowed: Allowed): HeadCheck | undefined {
  if (request.environment.generation !== undefined) return undefined;
  let token: string | undefined;
  try {
    token = pickToken({ podTokenFile: podTokenFileFromMounts(spec.mounts), configTokenFile: nodeTokenFile(config, allowed) }).token;
  } catch {
    return undefined; // the pipeline reports an unreadable token itself
  }
  return startHeadCheck(config.floxhub.gitUrl, request.environment.owner, { token, timeoutMs: config.floxhub.timeoutMs });
}
