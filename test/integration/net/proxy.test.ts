// Our HTTP/1.1 client through a real proxy, as nodes behind a corporate proxy need it: CONNECT
// tunnels for https (TLS to the origin inside), absolute-form requests for http, the proxy's
// credentials, refusals. The origin's name resolves only at the proxy (as a cache's name on the
// internet does for a node that may not resolve it), so nothing reaches it around the proxy.
import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProxyError, closeIdleConnections, get } from '../../../src/net/http1.js';
import { listRefs } from '../../../src/floxhub/smart-http.js';
import { probeHttp } from '../../../src/ops/doctor-probes.js';
import { type TestProxy, startTestProxy } from '../../support/connect-proxy.js';
import { makeTestCa } from '../../support/test-ca.js';

const NAME = 'cache.flox.test';
const text = async (r: { body: AsyncIterable<Buffer> }) => {
  const parts: Buffer[] = [];
  for await (const c of r.body) parts.push(c);
  return Buffer.concat(parts).toString();
};
const portOf = (s: Server) => (s.address() as { port: number }).port;
const listen = (s: Server) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r));

let dir: string;
let origin: Server;
let tlsOrigin: Server;
let proxy: TestProxy;
let ca: string;
const saved = { ...process.env };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flox-proxy-'));
  const tls = makeTestCa(dir, `DNS:${NAME}`);
  ca = tls.caPem;
  const answer = (req: IncomingMessage, res: ServerResponse) => res.end(`origin saw ${req.url} host ${req.headers.host}`);
  origin = createServer(answer);
  tlsOrigin = createTlsServer({ key: tls.key, cert: tls.cert }, answer);
  await listen(origin);
  await listen(tlsOrigin);
  proxy = await startTestProxy(NAME);
});

afterEach(() => {
  closeIdleConnections();
  proxy.seen.length = 0;
  proxy.refuse = undefined;
  for (const k of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy', 'all_proxy', 'ALL_PROXY']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

afterAll(() => {
  for (const s of [origin, tlsOrigin]) {
    s.closeAllConnections();
    s.close();
  }
  proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('through a proxy from the environment', () => {
  it('https: a CONNECT tunnel with the credentials, TLS to the origin inside it, kept alive for the next request', async () => {
    process.env.HTTPS_PROXY = `http://flox:pa%24s@127.0.0.1:${proxy.port}`;
    const url = `https://${NAME}:${portOf(tlsOrigin)}`;
    // one trust object, as extraCaOptions hands out: connections are pooled per trust
    const tls = { ca: [ca] };
    const r1 = await get(new URL(`${url}/a`), { tls, timeoutMs: 5000 });
    expect(r1.status).toBe(200);
    expect(await text(r1)).toBe(`origin saw /a host ${NAME}:${portOf(tlsOrigin)}`);
    expect(await text(await get(new URL(`${url}/b`), { tls, timeoutMs: 5000 }))).toContain('origin saw /b');
    // one tunnel for both requests
    expect(proxy.seen).toEqual([{ line: `CONNECT ${NAME}:${portOf(tlsOrigin)}`, auth: `Basic ${Buffer.from('flox:pa$s').toString('base64')}` }]);
  });

  it('https: the origin certificate is still checked inside the tunnel', async () => {
    process.env.HTTPS_PROXY = `http://127.0.0.1:${proxy.port}`;
    await expect(get(new URL(`https://${NAME}:${portOf(tlsOrigin)}/a`), { timeoutMs: 5000 })).rejects.toThrow(/certificate/);
  });

  it('https to an IP literal: the certificate must name the target address, not the proxy the tunnel runs through', async () => {
    // the proxy reaches 10.99.0.7 at 127.0.0.1 (nothing here connects to that address). Without
    // a host for TLS, node checked the certificate against the proxy socket's name: the proxy's
    // host name, or "localhost" for a proxy given by address as here
    const target = '10.99.0.7';
    const ipProxy = await startTestProxy(target);
    const sub = (name: string) => mkdtempSync(join(dir, name));
    const forProxy = makeTestCa(sub('ca-proxy-ip-'), 'DNS:localhost');
    const forTarget = makeTestCa(sub('ca-target-ip-'), `IP:${target}`);
    const wrong = createTlsServer({ key: forProxy.key, cert: forProxy.cert }, (_req, res) => res.end('wrong origin'));
    const right = createTlsServer({ key: forTarget.key, cert: forTarget.cert }, (_req, res) => res.end('right origin'));
    await listen(wrong);
    await listen(right);
    try {
      process.env.HTTPS_PROXY = `http://127.0.0.1:${ipProxy.port}`;
      const e = await get(new URL(`https://${target}:${portOf(wrong)}/a`), { tls: { ca: [forProxy.caPem] }, timeoutMs: 5000 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).toMatch(new RegExp(`IP: ${target.replace(/\./g, '\\.')} is not in the cert's list`));
      const r = await get(new URL(`https://${target}:${portOf(right)}/a`), { tls: { ca: [forTarget.caPem] }, timeoutMs: 5000 });
      expect(await text(r)).toBe('right origin');
      expect(ipProxy.seen.map((s) => s.line)).toEqual([`CONNECT ${target}:${portOf(wrong)}`, `CONNECT ${target}:${portOf(right)}`]);
    } finally {
      for (const s of [wrong, right]) {
        s.closeAllConnections();
        s.close();
      }
      ipProxy.close();
    }
  });

  it('http: an absolute-form request to the proxy', async () => {
    process.env.HTTP_PROXY = `http://u:p@127.0.0.1:${proxy.port}`;
    const r = await get(new URL(`http://${NAME}:${portOf(origin)}/nix-cache-info?x=1`), { timeoutMs: 5000 });
    expect(await text(r)).toBe(`origin saw /nix-cache-info?x=1 host ${NAME}:${portOf(origin)}`);
    expect(proxy.seen).toEqual([{ line: `GET http://${NAME}:${portOf(origin)}/nix-cache-info?x=1`, auth: `Basic ${Buffer.from('u:p').toString('base64')}` }]);
  });

  it('a proxy that refuses the tunnel fails the request with its status; NO_PROXY goes around the proxy', async () => {
    process.env.HTTPS_PROXY = `http://127.0.0.1:${proxy.port}`;
    proxy.refuse = 407;
    const e = await get(new URL(`https://${NAME}:${portOf(tlsOrigin)}/a`), { tls: { ca: [ca] }, timeoutMs: 5000 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProxyError);
    expect((e as Error).message).toBe(`proxy http://127.0.0.1:${proxy.port} refused CONNECT to ${NAME}:${portOf(tlsOrigin)}: HTTP 407`);
    proxy.refuse = undefined;
    proxy.seen.length = 0;
    process.env.NO_PROXY = 'flox.test';
    // direct: the name does not resolve here, and the proxy never hears of it
    await expect(get(new URL(`https://${NAME}:${portOf(tlsOrigin)}/a`), { tls: { ca: [ca] }, timeoutMs: 5000 })).rejects.toThrow(/ENOTFOUND|EAI_AGAIN/);
    expect(proxy.seen).toEqual([]);
  });

  it('a proxy that never answers CONNECT times out', async () => {
    const silent = createServer();
    silent.on('connect', () => {});
    await listen(silent);
    try {
      process.env.HTTPS_PROXY = `http://127.0.0.1:${portOf(silent)}`;
      const t = Date.now();
      await expect(get(new URL(`https://${NAME}/a`), { timeoutMs: 300 })).rejects.toThrow(/no answer to CONNECT in 300 ms/);
      expect(Date.now() - t).toBeLessThan(3000);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('doctor probes with the same client: through the proxy, and bounded when nobody answers', async () => {
    process.env.HTTP_PROXY = `http://127.0.0.1:${proxy.port}`;
    const r = await probeHttp(`http://${NAME}:${portOf(origin)}/nix-cache-info`, 5000);
    expect(r).toMatchObject({ status: 200, body: `origin saw /nix-cache-info host ${NAME}:${portOf(origin)}` });
    expect(r.date).toBeTruthy();
    const silent = createServer(() => {});
    await listen(silent);
    try {
      // loopback: direct, to a server that takes the request and never answers
      expect(await probeHttp(`http://127.0.0.1:${portOf(silent)}/`, 300)).toEqual({ error: 'no answer within 300 ms' });
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('the FloxHub head check goes through it too', async () => {
    process.env.HTTP_PROXY = `http://127.0.0.1:${proxy.port}`;
    // the origin answers anything with text that is no ref advertisement: the request got there
    await expect(listRefs(`http://${NAME}:${portOf(origin)}/o/floxmeta`, { timeoutMs: 5000 })).rejects.toThrow(/not a git smart HTTP ref advertisement/);
    expect(proxy.seen.map((s) => s.line)).toEqual([`GET http://${NAME}:${portOf(origin)}/o/floxmeta/info/refs?service=git-upload-pack`]);
  });
});
