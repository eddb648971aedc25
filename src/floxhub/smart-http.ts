// The one network round trip of a warm container start: GET <repo>/info/refs?service=git-upload-pack
// (git smart HTTP, protocol v0 ref advertisement) to learn the head of the environment's branch.
// Done in-process: spawning `git ls-remote` costs ~40 ms, this ~2-5 ms (see scripts/bench/env.mjs),
// with the same small HTTP/1.1 client as the binary caches (node:http would load only for this).
import { FloxError } from '../errors.js';
import { isLinkLocalOrMetadata, isLoopback } from '../net/address.js';
import { get as httpGet, readBody } from '../net/http1.js';
import { hostOf } from '../net/proxy.js';

export type HubFailure = 'auth' | 'not-found' | 'unreachable' | 'protocol';

export class HubError extends Error {
  constructor(
    readonly reason: HubFailure,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface HttpOptions {
  token?: string;
  timeoutMs: number;
  userAgent?: string;
  /** called once the first request is fully written (see head-check.ts) */
  onSent?: () => void;
}

/** HTTP Basic `oauth:<token>` as Flox's git credential helper sends; no header when anonymous. */
export function authHeader(token: string | undefined): Record<string, string> {
  if (!token) return {};
  return { authorization: `Basic ${Buffer.from(`oauth:${token}`).toString('base64')}` };
}

/**
 * A token goes only over https, or plain http to a hub on this node (tests, a local mirror):
 * anywhere else on the way could read it. Checked before anything connects.
 */
export function checkTokenTransport(repoUrl: string | URL, token: string | undefined): void {
  if (!token) return;
  const url = typeof repoUrl === 'string' ? new URL(repoUrl) : repoUrl;
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(hostOf(url)))) return;
  throw new FloxError(
    'config',
    `refusing to send the FloxHub token over ${url.protocol.replace(/:$/, '')} to ${url.host}: set floxhub.git-url to an https:// URL (plain http is allowed only to a hub on the node itself)`,
  );
}

const MAX_BODY = 32 << 20;

interface Answer {
  status: number;
  body: Buffer;
  location?: string;
}

async function get(url: URL, headers: Record<string, string>, timeoutMs: number, onSent?: () => void): Promise<Answer> {
  const res = await httpGet(url, { headers, timeoutMs, ...(onSent && { onSent }) });
  // the head came within timeoutMs (httpGet); the body gets as long again
  const body = await readBody(res, { timeoutMs, maxBytes: MAX_BODY, overflow: () => new Error('ref advertisement larger than 32 MiB') });
  return { status: res.status, body, ...(res.headers.has('location') && { location: res.headers.get('location')! }) };
}

/** Parses a protocol v0 upload-pack advertisement into refname -> sha. */
export function parseAdvertisement(body: Buffer): Map<string, string> {
  const refs = new Map<string, string>();
  let off = 0;
  let sawService = false;
  if (!/^[0-9a-f]{4}$/.test(body.subarray(0, 4).toString('latin1'))) {
    throw new HubError('protocol', 'not a git smart HTTP ref advertisement (dumb server or proxy page?)');
  }
  while (off + 4 <= body.length) {
    const len = Number.parseInt(body.subarray(off, off + 4).toString('latin1'), 16);
    if (Number.isNaN(len)) throw new HubError('protocol', 'malformed pkt-line in ref advertisement');
    if (len === 0) {
      off += 4;
      continue;
    }
    if (len < 4 || off + len > body.length) throw new HubError('protocol', 'truncated pkt-line in ref advertisement');
    let line = body.subarray(off + 4, off + len).toString('utf8');
    off += len;
    if (line.endsWith('\n')) line = line.slice(0, -1);
    if (line.startsWith('# service=')) {
      sawService = true;
      continue;
    }
    if (line.startsWith('version ')) throw new HubError('protocol', 'server answered with git protocol v2 although v0 was asked for');
    const nul = line.indexOf('\0');
    if (nul >= 0) line = line.slice(0, nul);
    const m = /^([0-9a-f]{40}|[0-9a-f]{64}) (.+)$/.exec(line);
    if (m && m[2] !== 'capabilities^{}') refs.set(m[2]!, m[1]!); // the latter: an empty repository
  }
  if (!sawService) throw new HubError('protocol', 'not a git smart HTTP ref advertisement (dumb server or proxy page?)');
  return refs;
}

export async function listRefs(repoUrl: string, opts: HttpOptions): Promise<Map<string, string>> {
  const url = new URL(`${repoUrl.replace(/\/+$/, '')}/info/refs`);
  url.searchParams.set('service', 'git-upload-pack');
  checkTokenTransport(url, opts.token);
  let res: Answer;
  let target = url;
  let auth = authHeader(opts.token);
  for (let hops = 0; ; hops++) {
    try {
      res = await get(target, { ...auth, 'user-agent': opts.userAgent ?? 'flox-runtime', accept: '*/*' }, opts.timeoutMs, hops === 0 ? opts.onSent : undefined);
    } catch (e) {
      throw new HubError('unreachable', (e as Error).message);
    }
    // follow redirects as git does, but never to plain HTTP from HTTPS, and never carry the
    // token to another host
    if (![301, 302, 303, 307, 308].includes(res.status) || !res.location || hops >= 5) break;
    const next = new URL(res.location, target);
    if (target.protocol === 'https:' && next.protocol !== 'https:') throw new HubError('unreachable', `refused redirect from HTTPS to ${next.protocol}`);
    if (isLinkLocalOrMetadata(hostOf(next))) throw new HubError('unreachable', 'refused redirect to a link-local or cloud metadata address');
    if (next.host !== target.host) auth = {};
    target = next;
  }
  if (res.status === 401 || res.status === 403) throw new HubError('auth', `HTTP ${res.status}`, res.status);
  if (res.status === 404) throw new HubError('not-found', 'HTTP 404', 404);
  if (res.status !== 200) throw new HubError('unreachable', `HTTP ${res.status}`, res.status);
  return parseAdvertisement(res.body);
}
