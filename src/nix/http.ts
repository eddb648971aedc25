// Reading from a substituter: http(s) with our HTTP/1.1 client (src/net/http1.ts: node:http's
// machinery cost ~2 ms of a cold process per request, fetch/undici more), file:// from disk.
// Knows which failures are worth retrying, and retries them with exponential backoff.
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { FloxError } from '../errors.js';
import { ConnectionClosedError, HttpTimeoutError, type Response, get as httpGet } from '../net/http1.js';
import { refuseRedirect } from './redirect.js';

/** A failure that may go away when tried again (network, 5xx, truncated body, timeout). */
export class TransientError extends Error {}

export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`${url}: HTTP ${status}`);
  }
}

export interface FetchOptions {
  /** connect + headers, and the longest stall while a body streams */
  timeoutMs: number;
  signal?: AbortSignal;
  /** hosts (host:port) a redirect may go to besides the cache's own (redirect.ts) */
  redirectHosts?: readonly string[];
}

const MAX_REDIRECTS = 5;
const HEADERS = { 'User-Agent': 'flox-runtime', Accept: '*/*' };

function statusError(url: string, status: number): Error {
  return status >= 500 || status === 429 || status === 408 ? new TransientError(`${url}: HTTP ${status}`) : new HttpStatusError(url, status);
}

/** A response with a 2xx status (redirects followed), or undefined for 404/403/410. */
async function get(url: string, opts: FetchOptions, redirects = 0): Promise<Response | undefined> {
  opts.signal?.throwIfAborted();
  const u = new URL(url);
  let res: Response;
  try {
    res = await httpGet(u, { headers: HEADERS, timeoutMs: opts.timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (e) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (e instanceof HttpTimeoutError) throw new TransientError(`${url}: no response in ${opts.timeoutMs} ms`);
    throw new TransientError(`${url}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const status = res.status;
  const location = res.headers.get('location');
  if (status >= 300 && status < 400 && location) {
    res.discard();
    if (redirects >= MAX_REDIRECTS) throw new HttpStatusError(url, status);
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new FloxError('nix-fetch', `${url}: HTTP ${status} with a malformed Location`);
    }
    // decided before anything connects to the target; only its scheme and host are shown
    const why = refuseRedirect(u, next, opts.redirectHosts);
    if (why) throw new FloxError('nix-fetch', `${url}: refused to follow its redirect to ${next.protocol}//${next.host} (${why})`);
    return get(next.toString(), opts, redirects + 1);
  }
  if (status === 404 || status === 403 || status === 410) {
    res.discard();
    return undefined;
  }
  if (status < 200 || status >= 300) {
    res.discard();
    throw statusError(url, status);
  }
  return res;
}

/** Streams a response body; a stall longer than timeoutMs or a cut connection is transient. */
async function* body(res: Response, url: string, opts: FetchOptions): AsyncGenerator<Uint8Array> {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => res.destroy(new TransientError(`${url}: no data for ${opts.timeoutMs} ms`)), opts.timeoutMs);
  };
  const onAbort = () => res.destroy(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error('aborted'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    arm();
    for await (const chunk of res.body) {
      arm();
      yield chunk;
    }
  } catch (e) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (e instanceof TransientError) throw e;
    throw new TransientError(`${url}: ${e instanceof ConnectionClosedError ? e.message : ((e as NodeJS.ErrnoException).code ?? (e as Error).message)}`);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** The body as text, or undefined when the server says it does not exist (404/403/410). */
export async function getText(url: string, opts: FetchOptions): Promise<string | undefined> {
  if (url.startsWith('file:')) {
    try {
      // node:fs/promises loads only for a file:// cache
      return await (await import('node:fs/promises')).readFile(fileURLToPath(url), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }
  const res = await get(url, opts);
  if (!res) return undefined;
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of body(res, url, opts)) {
    n += c.length;
    // a narinfo or nix-cache-info is a few hundred bytes
    if (n > 1 << 20) throw new HttpStatusError(url, 413);
    parts.push(c);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** A streaming body. 404 is an HttpStatusError here: the narinfo promised this file. */
export async function openBody(url: string, opts: FetchOptions): Promise<AsyncIterable<Uint8Array>> {
  if (url.startsWith('file:')) return createReadStream(fileURLToPath(url), { highWaterMark: 256 * 1024 });
  const res = await get(url, opts);
  if (!res) throw new HttpStatusError(url, 404);
  return body(res, url, opts);
}

export interface RetryOptions {
  retries: number;
  baseDelayMs: number;
  signal?: AbortSignal;
  onRetry?: (attempt: number, delayMs: number, error: Error) => void;
}

export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof TransientError) || attempt > opts.retries || opts.signal?.aborted) throw e;
      const delay = Math.round(opts.baseDelayMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2));
      opts.onRetry?.(attempt, delay, e);
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }
}
