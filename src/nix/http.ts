// Reading from a substituter: http(s) through Node's fetch, file:// from disk. Knows which
// failures are worth retrying, and retries them with exponential backoff.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** A failure that may go away when tried again (network, 5xx, truncated body, timeout). */
export class TransientError extends Error {}

export interface FetchOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

function timeoutSignal(opts: FetchOptions): { signal: AbortSignal; reset(): void; clear(): void } {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const reset = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctl.abort(new TransientError(`no data for ${opts.timeoutMs} ms`)), opts.timeoutMs);
  };
  reset();
  const signal = opts.signal ? AbortSignal.any([opts.signal, ctl.signal]) : ctl.signal;
  return { signal, reset, clear: () => clearTimeout(timer) };
}

function networkError(url: string, e: unknown, signal: AbortSignal, user?: AbortSignal): Error {
  if (user?.aborted) return user.reason instanceof Error ? user.reason : new Error('aborted');
  if (signal.aborted && signal.reason instanceof TransientError) return new TransientError(`${url}: ${signal.reason.message}`);
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? cause?.message ?? (e as Error).message;
  return new TransientError(`${url}: ${detail}`);
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
  const t = timeoutSignal(opts);
  try {
    const res = await fetch(url, { signal: t.signal, headers: { 'accept-encoding': 'identity' } });
    if (res.status === 404 || res.status === 403 || res.status === 410) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw statusError(url, res.status);
    }
    return await res.text();
  } catch (e) {
    if (e instanceof HttpStatusError || e instanceof TransientError) throw e;
    throw networkError(url, e, t.signal, opts.signal);
  } finally {
    t.clear();
  }
}

export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`${url}: HTTP ${status}`);
  }
}

function statusError(url: string, status: number): Error {
  return status >= 500 || status === 429 || status === 408 ? new TransientError(`${url}: HTTP ${status}`) : new HttpStatusError(url, status);
}

/** A streaming body; stalls longer than timeoutMs abort it. */
export async function openBody(url: string, opts: FetchOptions): Promise<AsyncIterable<Uint8Array>> {
  if (url.startsWith('file:')) {
    return createReadStream(fileURLToPath(url), { highWaterMark: 256 * 1024 });
  }
  const t = timeoutSignal(opts);
  let res: Response;
  try {
    // never let fetch undo a Content-Encoding: FileHash covers the bytes as served
    res = await fetch(url, { signal: t.signal, headers: { 'accept-encoding': 'identity' } });
  } catch (e) {
    t.clear();
    throw networkError(url, e, t.signal, opts.signal);
  }
  if (!res.ok || !res.body) {
    t.clear();
    await res.body?.cancel();
    throw res.status === 404 ? new HttpStatusError(url, 404) : statusError(url, res.status);
  }
  const body = res.body;
  return (async function* () {
    try {
      t.reset();
      for await (const chunk of body) {
        t.reset();
        yield chunk;
      }
    } catch (e) {
      throw networkError(url, e, t.signal, opts.signal);
    } finally {
      t.clear();
      await body.cancel().catch(() => {});
    }
  })();
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
