// Our HTTP/1.1 client against real servers: node:http (keep-alive, chunked, redirects to
// nowhere, errors) and raw sockets that misbehave the way servers and proxies do (closing a
// kept-alive connection, cutting a body short, never answering, HTTP/1.0, TLS).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionClosedError, HttpProtocolError, HttpTimeoutError, closeIdleConnections, get } from '../../../src/net/http1.js';
import { type TestCa, makeTestCa } from '../../support/test-ca.js';

const text = async (r: { body: AsyncIterable<Buffer> }) => {
  const parts: Buffer[] = [];
  for await (const c of r.body) parts.push(c);
  return Buffer.concat(parts).toString();
};
const listen = async <T extends Server | NetServer>(s: T): Promise<{ server: T; url: string }> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { server: s, url: `http://127.0.0.1:${(s.address() as { port: number }).port}` };
};

afterEach(() => closeIdleConnections());

describe('against node:http', () => {
  let server: Server;
  let url: string;
  const sockets = new Set<unknown>();
  const big = Buffer.alloc(3 << 20, 7);
  beforeAll(async () => {
    ({ server, url } = await listen(
      createServer((req, res) => {
        sockets.add(req.socket);
        if (req.url === '/length') return void res.writeHead(200, { 'content-length': 5 }).end('hello');
        if (req.url === '/chunked') {
          res.writeHead(200, { 'x-many': 'a' });
          res.write('hel');
          setTimeout(() => res.end('lo'), 5);
          return;
        }
        if (req.url === '/big') return void res.writeHead(200, { 'content-length': big.length }).end(big);
        if (req.url === '/headers') return void res.end(JSON.stringify(req.headers));
        res.writeHead(404, { 'content-length': 9 }).end('not found');
      }),
    ));
  });
  afterAll(() => server.close());

  it('reads Content-Length and chunked bodies, and reuses one connection for all of them', async () => {
    sockets.clear();
    expect(await text(await get(new URL(`${url}/length`)))).toBe('hello');
    const chunked = await get(new URL(`${url}/chunked`));
    expect(chunked.status).toBe(200);
    expect(chunked.headers.get('x-many')).toBe('a');
    expect(await text(chunked)).toBe('hello');
    const missing = await get(new URL(`${url}/nothing`));
    expect(missing.status).toBe(404);
    missing.discard();
    await new Promise((r) => setTimeout(r, 20));
    expect(await text(await get(new URL(`${url}/length`)))).toBe('hello');
    expect(sockets.size).toBe(1);
  });

  it('sends Host and the caller headers, and refuses a header with a line break', async () => {
    const h = JSON.parse(await text(await get(new URL(`${url}/headers`), { headers: { 'User-Agent': 'flox-runtime' } })));
    expect(h).toMatchObject({ host: new URL(url).host, 'user-agent': 'flox-runtime' });
    await expect(get(new URL(`${url}/headers`), { headers: { A: 'x\r\nInjected: 1' } })).rejects.toThrow(/line break/);
  });

  it('streams a body larger than its buffer, in order, with parallel requests', async () => {
    const all = await Promise.all([1, 2, 3].map(async () => Buffer.from(await text(await get(new URL(`${url}/big`))), 'utf8').length));
    expect(all).toEqual([big.length, big.length, big.length]);
  });

  it('a reader that stops early closes the connection instead of reusing it', async () => {
    sockets.clear();
    const r = await get(new URL(`${url}/big`));
    for await (const _ of r.body) break;
    expect(await text(await get(new URL(`${url}/length`)))).toBe('hello');
    expect(sockets.size).toBe(2);
  });

  it('an abort signal stops a request and its body', async () => {
    const ac = new AbortController();
    const r = await get(new URL(`${url}/big`), { signal: ac.signal });
    ac.abort(new Error('pod deleted'));
    await expect(text(r)).rejects.toThrow('pod deleted');
    await expect(get(new URL(`${url}/length`), { signal: ac.signal })).rejects.toThrow('pod deleted');
  });
});

/** A raw TCP server that answers each request with `script(socket, requestNumber)`. */
async function rawServer(script: (s: Socket, n: number) => void) {
  let n = 0;
  const conns: Socket[] = [];
  const server = createNetServer((s) => {
    conns.push(s);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        script(s, n++);
      }
    });
    s.on('error', () => {});
  });
  const { url } = await listen(server);
  return { server, url, conns, count: () => n };
}

describe('against misbehaving servers', () => {
  const servers: NetServer[] = [];
  afterAll(() => servers.forEach((s) => s.close()));
  const raw = async (script: (s: Socket, n: number) => void) => {
    const r = await rawServer(script);
    servers.push(r.server);
    return r;
  };

  it('a kept-alive connection the server closed is retried once on a new one', async () => {
    const s = await raw((sock, n) => {
      // the second request meets a connection that the server closes without a word, as one
      // whose idle timeout fired while the request was on its way
      if (n === 1) return void sock.destroy();
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    expect(await text(await get(new URL(`${s.url}/a`)))).toBe('ok');
    expect(await text(await get(new URL(`${s.url}/b`)))).toBe('ok');
    expect(s.conns).toHaveLength(2);
    expect(s.count()).toBe(3);
    // on a new connection the same silence is an error: it is not the stale-connection race
    const t = await raw((sock) => sock.destroy());
    await expect(get(new URL(`${t.url}/c`))).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('a body cut short is an error, not a short success', async () => {
    const s = await raw((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      sock.end();
    });
    await expect(text(await get(new URL(`${s.url}/x`)))).rejects.toBeInstanceOf(ConnectionClosedError);
    const c = await raw((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
      sock.end();
    });
    await expect(text(await get(new URL(`${c.url}/x`)))).rejects.toThrow(/before the body was complete/);
  });

  it('a body without a length runs until the server closes (HTTP/1.0)', async () => {
    const s = await raw((sock) => {
      sock.write('HTTP/1.0 200 OK\r\n\r\nall of it');
      sock.end();
    });
    expect(await text(await get(new URL(`${s.url}/x`)))).toBe('all of it');
  });

  it('skips interim 1xx answers', async () => {
    const s = await raw((sock) => sock.write('HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    expect(await text(await get(new URL(`${s.url}/x`)))).toBe('ok');
  });

  it('garbage instead of HTTP is a protocol error', async () => {
    const s = await raw((sock) => sock.write('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    await expect(get(new URL(`${s.url}/x`))).rejects.toBeInstanceOf(HttpProtocolError);
  });

  it('no answer within timeoutMs is an HttpTimeoutError', async () => {
    const s = await raw(() => {});
    await expect(get(new URL(`${s.url}/x`), { timeoutMs: 100 })).rejects.toBeInstanceOf(HttpTimeoutError);
  });

  it('a refused connection fails with its code', async () => {
    await expect(get(new URL('http://127.0.0.1:9/x'))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('https', () => {
  const work = mkdtempSync(join(tmpdir(), 'flox-http1-tls-'));
  let url: string;
  let server: Server;
  let ca: TestCa;
  beforeAll(async () => {
    ca = makeTestCa(work, 'DNS:localhost');
    server = createTlsServer({ key: ca.key, cert: ca.cert }, (req, res) => res.end(`secure ${(req.socket as import('node:tls').TLSSocket).isSessionReused()}`));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://localhost:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => {
    server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('refuses a certificate from an unknown CA', async () => {
    await expect(get(new URL(`${url}/x`))).rejects.toThrow(/certificate/i);
  });

  it('trusts extra CAs, checks the name (SNI) and resumes the session on a new connection', async () => {
    const tls = { ca: [ca.caPem] };
    expect(await text(await get(new URL(`${url}/a`), { tls }))).toBe('secure false');
    // two at once: one reuses the kept-alive connection, the other opens one and resumes the session
    const [a, b] = await Promise.all([get(new URL(`${url}/b`), { tls }), get(new URL(`${url}/c`), { tls })]);
    expect([await text(a), await text(b)].sort()).toEqual(['secure false', 'secure true']);
    const ip = url.replace('localhost', '127.0.0.1');
    await expect(get(new URL(`${ip}/x`), { tls })).rejects.toThrow(/IP: 127.0.0.1 is not in the cert|altnames/i);
  });
});
