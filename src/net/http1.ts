// A small HTTP/1.1 GET client for binary caches, straight on node:net and node:tls.
//
// Why not node:http: in a process that lives for one container start every request runs cold,
// and node:http's request/response/agent machinery cost ~2 ms of main-thread time per request
// there (a cold closure of 11 paths makes 23 requests). This client does the one thing we need
// (GET, keep-alive, Content-Length, chunked and read-to-close bodies, https with extra CAs and
// session resumption, the environment's HTTP proxy) in a fraction of that. The framing rules
// live in http1-parse.ts, the choice of proxy in proxy.ts.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type * as Tls from 'node:tls';
import { ChunkQueue } from './chunk-queue.js';
import { extraCaOptions } from './extra-ca.js';
import { type Proxy, hostOf, proxyFor } from './proxy.js';
import { ChunkedDecoder, type Framing, HttpProtocolError, type ResponseHead, framingOf, parseResponseHead, reusable } from './http1-parse.js';

export { HttpProtocolError } from './http1-parse.js';

export interface GetOptions {
  headers?: Record<string, string>;
  /** https only: the trust to use; default Node's roots plus the node's extra CAs (extra-ca.ts) */
  tls?: { ca?: string[] };
  signal?: AbortSignal;
  /** no response head within this many ms: HttpTimeoutError */
  timeoutMs?: number;
  /** called once the request is written to the connection (again if a stale one made it retry) */
  onSent?: () => void;
}

export interface Response {
  status: number;
  /** lower-cased names */
  headers: Map<string, string>;
  /** the body, once; a connection whose body is read to the end goes back to the pool */
  body: AsyncIterable<Buffer>;
  /** Stops the body: its reader gets `error`, the connection is closed. */
  destroy(error?: Error): void;
  /** Drops a body nobody wants: read to the end when small (to keep the connection), else closed. */
  discard(): void;
}

export class HttpTimeoutError extends Error {}

/** The proxy from the environment refused or broke the tunnel. */
export class ProxyError extends Error {}

/** The connection ended before the response (or its body) was complete. */
export class ConnectionClosedError extends Error {
  readonly code = 'ECONNCLOSED';
}

/** A kept-alive connection that the server had closed: the request never reached it. */
class StaleConnection extends Error {}

// pooled sockets: the server may close an idle connection at any time (they are retried once
// when that happens), and we close ours after a while rather than keep them forever
const IDLE_MS = 4000;
const HIGH_WATER = 1 << 20;
const DISCARD_MAX = 64 * 1024;
const idle = new Map<string, Socket[]>();
const idleListeners = new WeakMap<Socket, () => void>();
const tlsSessions = new Map<string, Buffer>();
const tlsIds = new WeakMap<object, number>();
let nextTlsId = 1;

function poolKey(url: URL, tls: GetOptions['tls'] | undefined): string {
  if (url.protocol !== 'https:') return `http:${url.host}`;
  const opts = tls ?? {};
  let id = tlsIds.get(opts);
  if (id === undefined) tlsIds.set(opts, (id = nextTlsId++));
  return `https:${url.host}:${id}`;
}

function takeIdle(key: string): Socket | undefined {
  const pool = idle.get(key);
  for (let s = pool?.pop(); s; s = pool?.pop()) {
    idleListeners.get(s)?.();
    if (s.destroyed || s.readyState !== 'open') continue;
    s.setTimeout(0);
    s.ref();
    return s;
  }
  return undefined;
}

function putIdle(key: string, s: Socket): void {
  let pool = idle.get(key);
  if (!pool) idle.set(key, (pool = []));
  const drop = () => {
    const i = pool.indexOf(s);
    if (i >= 0) pool.splice(i, 1);
    s.destroy();
  };
  // nothing may arrive on an idle connection: a server that sends anyway is out of step
  const events = ['error', 'close', 'timeout', 'data'] as const;
  for (const e of events) s.on(e, drop);
  idleListeners.set(s, () => {
    for (const e of events) s.removeListener(e, drop);
    idleListeners.delete(s);
  });
  s.setTimeout(IDLE_MS);
  s.unref();
  pool.push(s);
}

async function open(url: URL, tls: GetOptions['tls'] | undefined, key: string, proxy: Proxy | undefined, req: GetOptions): Promise<Socket> {
  const host = hostOf(url);
  if (url.protocol === 'http:') {
    const s = netConnect(proxy ? { host: proxy.host, port: proxy.port } : { host, port: Number(url.port || 80) });
    s.setNoDelay(true);
    return s;
  }
  const port = Number(url.port || 443);
  // node:tls loads only for an https cache; before the tunnel, so that TLS takes the tunnel's
  // socket over at once (nothing would listen for its errors across an await)
  const { connect } = await import('node:tls');
  const tunnel = proxy ? await connectTunnel(proxy, host, port, req) : undefined;
  // `host` also with a tunnel: node checks the certificate against it, and without it against
  // the proxy socket's name ("localhost" for a proxy given by address); no SNI for an IP literal
  const opts: Tls.ConnectionOptions = { ...(tunnel ? { socket: tunnel, host } : { host, port }), ALPNProtocols: ['http/1.1'], ...(tls ?? {}) };
  if (!isIP(host)) opts.servername = host;
  const session = tlsSessions.get(key);
  if (session) opts.session = session;
  const s = connect(opts);
  s.on('session', (sess: Buffer) => tlsSessions.set(key, sess));
  s.setNoDelay(true);
  return s;
}

/**
 * A tunnel to host:port through an http proxy (CONNECT), for TLS to run inside. A proxy that
 * refuses, answers garbage or takes longer than the request's timeout fails the request.
 */
function connectTunnel(proxy: Proxy, host: string, port: number, req: GetOptions): Promise<Socket> {
  const target = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  return new Promise<Socket>((resolve, reject) => {
    const s = netConnect({ host: proxy.host, port: proxy.port });
    s.setNoDelay(true);
    let got = Buffer.alloc(0);
    const done = (e?: Error) => {
      clearTimeout(timer);
      s.removeListener('data', onData);
      s.removeListener('error', done);
      s.removeListener('close', onClose);
      req.signal?.removeEventListener('abort', onAbort);
      if (!e) return resolve(s);
      s.destroy();
      reject(e);
    };
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      let head: ResponseHead | undefined;
      try {
        head = parseResponseHead(got);
      } catch (e) {
        return done(new ProxyError(`proxy ${proxy.label}: ${(e as Error).message}`));
      }
      if (!head) return;
      if (head.status !== 200) return done(new ProxyError(`proxy ${proxy.label} refused CONNECT to ${target}: HTTP ${head.status}`));
      // the server speaks only after our TLS hello: anything more is out of step
      if (got.length > head.size) return done(new ProxyError(`proxy ${proxy.label} sent data after its CONNECT answer`));
      s.pause();
      done();
    };
    const onClose = () => done(new ProxyError(`proxy ${proxy.label} closed the connection before answering CONNECT to ${target}`));
    const onAbort = () => done(req.signal!.reason instanceof Error ? req.signal!.reason : new Error('aborted'));
    const timer = req.timeoutMs !== undefined ? setTimeout(() => done(new HttpTimeoutError(`proxy ${proxy.label}: no answer to CONNECT in ${req.timeoutMs} ms`)), req.timeoutMs) : undefined;
    s.on('data', onData);
    s.once('error', done);
    s.once('close', onClose);
    req.signal?.addEventListener('abort', onAbort, { once: true });
    s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${proxy.authorization ? `Proxy-Authorization: ${proxy.authorization}\r\n` : ''}\r\n`);
  });
}

function requestHead(url: URL, headers: Record<string, string>, forward?: Proxy): string {
  const target = forward ? `${url.protocol}//${url.host}${url.pathname}${url.search}` : `${url.pathname}${url.search}`;
  let head = `GET ${target} HTTP/1.1\r\nHost: ${url.host}\r\n`;
  if (forward?.authorization) head += `Proxy-Authorization: ${forward.authorization}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new Error(`header ${JSON.stringify(k)} contains a line break`);
    head += `${k}: ${v}\r\n`;
  }
  return `${head}\r\n`;
}

/** GET `url`. Resolves with the status and headers; the body streams from `response.body`. */
export async function get(url: URL, opts: GetOptions = {}): Promise<Response> {
  opts.signal?.throwIfAborted();
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${url.protocol} is not http(s)`);
  const proxy = proxyFor(url);
  // plain http through a proxy: the request names the whole URL, and the proxy's credentials
  const forward = proxy && url.protocol === 'http:' ? proxy : undefined;
  const head = requestHead(url, opts.headers ?? {}, forward);
  // the extra CAs (and node:tls) load only for https
  const tls = url.protocol === 'https:' ? (opts.tls ?? (await extraCaOptions())) : undefined;
  const key = `${proxy ? `${proxy.label} ` : ''}${poolKey(url, tls)}`;
  for (let attempt = 0; ; attempt++) {
    const pooled = attempt === 0 ? takeIdle(key) : undefined;
    const socket = pooled ?? (await open(url, tls, key, proxy, opts));
    try {
      return await exchange(socket, head, key, pooled !== undefined, opts);
    } catch (e) {
      // GET is idempotent: a request that met a connection the server had closed goes again
      if (e instanceof StaleConnection) continue;
      throw e;
    }
  }
}

function exchange(socket: Socket, request: string, key: string, reused: boolean, opts: GetOptions): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    let pending: Buffer | undefined;
    let head: ResponseHead | undefined;
    let framing: Framing = { kind: 'close' };
    let left = 0;
    let chunked: ChunkedDecoder | undefined;
    let gotBytes = false;
    let ended = false;
    let timer: NodeJS.Timeout | undefined;
    const queue = new ChunkQueue<Buffer>(HIGH_WATER, {
      pause: () => socket.pause(),
      resume: () => {
        if (socket.isPaused()) socket.resume();
      },
    });

    const detach = () => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (e: Error) => {
      if (ended) return;
      ended = true;
      detach();
      socket.destroy();
      if (!head) reject(e);
      queue.fail(e);
    };
    const complete = (keep: boolean) => {
      ended = true;
      detach();
      if (keep && socket.readyState === 'open') {
        socket.resume();
        putIdle(key, socket);
      } else {
        socket.destroy();
      }
      queue.end();
    };
    const deliver = (b: Buffer) => queue.push(b);
    const feed = (b: Buffer) => {
      switch (framing.kind) {
        case 'length': {
          const k = Math.min(left, b.length);
          deliver(b.subarray(0, k));
          left -= k;
          // bytes past the announced length: the server is out of step, do not reuse
          if (left === 0) complete(k === b.length && reusable(head!, framing));
          return;
        }
        case 'chunked': {
          const k = chunked!.push(b, deliver);
          if (chunked!.done) complete(k === b.length && reusable(head!, framing));
          return;
        }
        case 'close':
          deliver(b);
      }
    };
    const onData = (d: Buffer) => {
      gotBytes = true;
      if (head) return feed(d);
      pending = pending ? Buffer.concat([pending, d]) : d;
      try {
        // interim 1xx answers (100 Continue, 103 Early Hints) come before the real one
        for (let h = parseResponseHead(pending); h; h = parseResponseHead(pending)) {
          pending = pending.subarray(h.size);
          if (h.status >= 200) {
            head = h;
            framing = framingOf(h);
            break;
          }
          if (h.status === 101) throw new HttpProtocolError('unexpected 101 Switching Protocols');
        }
      } catch (e) {
        return fail(e as Error);
      }
      if (!head) return;
      clearTimeout(timer);
      if (framing.kind === 'length') left = framing.length;
      if (framing.kind === 'chunked') chunked = new ChunkedDecoder();
      resolve(response);
      const rest = pending;
      pending = undefined;
      // no body: bytes after the head put the connection out of step (feed handles the rest,
      // an empty Content-Length body included)
      if (framing.kind === 'none') complete(rest.length === 0 && reusable(head, framing));
      else feed(rest);
    };
    const onEnd = () => {
      if (ended) return;
      if (head && framing.kind === 'close') return complete(false);
      if (!head && reused && !gotBytes) return fail(new StaleConnection('kept-alive connection closed by the server'));
      fail(new ConnectionClosedError(head ? 'connection closed before the body was complete' : 'connection closed before a response'));
    };
    const onError = (e: Error) => fail(!head && reused && !gotBytes ? new StaleConnection(e.message) : e);
    const onAbort = () => fail(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error('aborted'));

    const response: Response = {
      get status() {
        return head!.status;
      },
      get headers() {
        return head!.headers;
      },
      body: {
        async *[Symbol.asyncIterator]() {
          try {
            yield* queue;
          } finally {
            // a reader that stopped early leaves a connection in an unknown state
            if (!ended) fail(new Error('body not read to the end'));
          }
        },
      },
      destroy(error?: Error) {
        fail(error ?? new Error('aborted'));
      },
      discard() {
        const small = framing.kind === 'none' || (framing.kind === 'length' && left <= DISCARD_MAX) || (framing.kind === 'chunked' && queue.buffered <= DISCARD_MAX);
        if (!small) return fail(new Error('discarded'));
        // read to the end, so that the connection can carry the next request
        void (async () => {
          for await (const _ of response.body);
        })().catch(() => {});
      },
    };

    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) timer = setTimeout(() => fail(new HttpTimeoutError(`no response in ${opts.timeoutMs} ms`)), opts.timeoutMs);
    socket.write(request, (e) => {
      if (!e) opts.onSent?.();
    });
  });
}

/**
 * A whole (small) body, within `timeoutMs` from now. Past `maxBytes` it fails with the error
 * `overflow` makes, or with 'truncate' is read to the end and cut to its first `maxBytes`.
 */
export async function readBody(res: Response, opts: { timeoutMs: number; maxBytes: number; overflow: 'truncate' | (() => Error) }): Promise<Buffer> {
  const timer = setTimeout(() => res.destroy(new HttpTimeoutError(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body) {
      size += c.length;
      if (size <= opts.maxBytes) chunks.push(c);
      else if (opts.overflow !== 'truncate') throw opts.overflow();
    }
    return Buffer.concat(chunks);
  } finally {
    clearTimeout(timer);
  }
}

/** Closes every pooled connection (tests; a long-lived process that is done with a cache). */
export function closeIdleConnections(): void {
  for (const pool of idle.values()) for (const s of pool.splice(0)) s.destroy();
}
