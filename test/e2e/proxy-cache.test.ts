// A pod whose store paths come from an https binary cache that the node reaches only through an
// HTTP proxy, named in containerd's environment (HTTPS_PROXY, with NO_PROXY for the local hub)
// as on a node behind a corporate proxy. The cache's name resolves only at the proxy, so the
// pod can start only if every request of the create went through the CONNECT tunnel.
import { createReadStream, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCa, type TestCa } from '../support/test-ca.js';
import { startFloxLab, type FloxLab } from './support/flox-lab.js';
import { e2eGate } from './support/gate.js';
import { EMPTY_IMAGE } from './support/images.js';

const gate = e2eGate('pods from an https cache behind an HTTP proxy');
const NAME = 'cache.flox.test';

describe.skipIf(gate.skip)(gate.title, () => {
  const work = mkdtempSync(join(tmpdir(), 'flox-e2e-proxy-'));
  let ca: TestCa;
  let cache: Server | undefined;
  let proxy: Server | undefined;
  let f: FloxLab;
  const tunnels: string[] = [];

  beforeAll(async () => {
    ca = makeTestCa(work, `DNS:${NAME}`);
    proxy = createHttpServer((_req, res) => void res.writeHead(502).end());
    proxy.on('connect', (req: IncomingMessage, client: Socket) => {
      tunnels.push(String(req.url));
      const [host, port] = String(req.url).split(':');
      if (host !== NAME) return void client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      const up = connect(Number(port), '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n');
        up.pipe(client);
        client.pipe(up);
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => proxy!.listen(0, '127.0.0.1', r));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    f = await startFloxLab({
      env: { NODE_EXTRA_CA_CERTS: ca.caFile, HTTPS_PROXY: proxyUrl, NO_PROXY: '127.0.0.1,localhost' },
      substituters: async (hub) => {
        const root = hub.nix.caches.zstd!;
        cache = createServer({ key: ca.key, cert: ca.cert }, (req, res) => {
          const file = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'https://x').pathname)));
          let size: number;
          try {
            if (!file.startsWith(`${root}/`)) throw new Error('outside');
            size = statSync(file).size;
          } catch {
            return void res.writeHead(404).end();
          }
          res.writeHead(200, { 'content-length': size });
          createReadStream(file).pipe(res);
        });
        await new Promise<void>((r) => cache!.listen(0, '127.0.0.1', r));
        return [`https://${NAME}:${(cache.address() as { port: number }).port}`];
      },
    });
  }, 240_000);
  afterAll(async () => {
    if (f) expect(await f.stop()).toEqual([]);
    for (const s of [cache, proxy]) {
      s?.closeAllConnections();
      s?.close();
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('a cold pod realises its closure through the proxy and runs', async () => {
    const k = f.lab.kubelet;
    const lines = await k.withPod({ name: 'proxy-cold', handler: 'flox', annotations: { 'flox.dev/environment': 'public-owner/hello' } }, async (pod) => {
      const c = await k.run(pod, { name: 'app', image: EMPTY_IMAGE, command: ['hello'] });
      expect((await k.waitForExit(c)).exit_code).toBe(0);
      return k.readLog(c).map((l) => l.line);
    });
    expect(lines).toEqual(['Hello, world!']);
    expect(f.activations().at(-1)!.pathsFetched).toBeGreaterThan(0);
    const port = (cache!.address() as { port: number }).port;
    expect(tunnels.length).toBeGreaterThan(0);
    expect(new Set(tunnels)).toEqual(new Set([`${NAME}:${port}`]));
    const meta = join(f.stateDir, 'nix', 'meta');
    for (const r of readdirSync(meta).filter((n) => n.endsWith('.json'))) expect(JSON.parse(readFileSync(join(meta, r), 'utf8')).substituter).toBe(`https://${NAME}:${port}`);
  });
});
