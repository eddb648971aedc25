// Reading from a substituter: http(s) with node:http and keep-alive agents (no fetch: its lazy
// undici start-up costs more than a whole small closure on a fast link), file:// from disk.
// Knows which failures are worth retrying, and retries them with exponential backoff.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import type * as Https from 'node:https';
import { extraCaOptions } from '../net/extra-ca.js';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

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
}

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
// node:https (and TLS with it) loads only when a substituter needs it
let https: Promise<{ request: typeof Https.request; agent: Https.Agent }> | undefined;
const loadHttps = () =>
  (https ??= Promise.all([import('node:https'), extraCaOptions()]).then(([m, tls]) => ({ request: m.request, agent: new m.Agent({ keepAlive: true, maxSockets: 64, ...tls }) })));
const MAX_REDIRECTS = 5;

function statusError(url: string, status: number): Error {
  return status >= 500 || status === 429 || status === 408 ? new TransientError(`${url}: HTTP ${status}`) : new HttpStatusError(url, status);
}

/** A response with a 2xx status (redirects followed), or undefined for 404/403/410. */
async function get(url: string, opts: FetchOptions, redirects = 0): Promise<IncomingMessage | undefined> {
  opts.signal?.throwIfAborted();
  const u = new URL(url);
  const headers = { 'user-agent': 'flox-runtime', accept: '*/*' };
  let req;
  if (u.protocol === 'https:') {
    const h = await loadHttps();
    opts.signal?.throwIfAborted();
    req = h.request(u, { agent: h.agent, headers });
  } else {
    req = httpRequest(u, { agent: httpAgent, headers });
  }
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const timer = setTimeout(() => req.destroy(new TransientError(`${url}: no response in ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const onAbort = () => req.destroy(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error('aborted'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    req.on('response', (r) => {
      done();
      resolve(r);
    });
    req.on('error', (e) => {
      done();
      if (opts.signal?.aborted) reject(opts.signal.reason);
      else reject(e instanceof TransientError ? e : new TransientError(`${url}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
    req.end();
  });
  const status = res.statusCode ?? 0;
  if (status >= 300 && status < 400 && res.headers.location) {
    res.resume();
    if (redirects >= MAX_REDIRECTS) throw new HttpStatusError(url, status);
    return get(new URL(res.headers.location, url).toString(), opts, redirects + 1);
  }
  if (status === 404 || status === 403 || status === 410) {
    res.resume();
    return undefined;
  }
  if (status < 200 || status >= 300) {
    res.resume();
    throw statusError(url, status);
  }
  return res;
}

/** Streams a response body; a stall longer than timeoutMs or a cut connection is transient. */
async function* body(res: IncomingMessage, url: string, opts: FetchOptions): AsyncGenerator<Uint8Array> {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => res.destroy(new TransientError(`${url}: no data for ${opts.timeoutMs} ms`)), opts.timeoutMs);
  };
  const onAbort = () => res.destroy(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error('aborted'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    arm();
    for await (const chunk of res) {
      arm();
      yield chunk as Buffer;
    }
    if (!res.complete) throw new TransientError(`${url}: connection closed before the body was complete`);
  } catch (e) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (e instanceof TransientError) throw e;
    throw new TransientError(`${url}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    if (!res.complete) res.destroy();
  }
}

/** The body as text, or undefined when the server says it does not exist (404/403/410). */
export async function getText(url: string, opts: FetchOptions): Promise<string | undefined> {
  if (url.startsWith('file:')) {
    try {
      return await readFile(fileURLToPath(url), 'utf8');
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
