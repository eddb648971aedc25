// A pod whose store paths come from an https binary cache that the node reaches only through an
// HTTP proxy, named in containerd's environment (HTTPS_PROXY, with NO_PROXY for the local hub)
// as on a node behind a corporate proxy. The cache's name resolves only at the proxy, so the
// pod can start only if every request of the create went through the CONNECT tunnel.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestProxy, startTestProxy } from '../support/connect-proxy.js';
import { type CacheServer, serveDirectory } from '../support/nixcache.js';
import { makeTestCa } from '../support/test-ca.js';
import { startFloxLab, type FloxLab } from './support/flox-lab.js';
import { e2eGate } from './support/gate.js';
import { EMPTY_IMAGE } from './support/images.js';

const gate = e2eGate('pods from an https cache behind an HTTP proxy');
const NAME = 'cache.flox.test';

describe.skipIf(gate.skip)(gate.title, () => {
  const work = mkdtempSync(join(tmpdir(), 'flox-e2e-proxy-'));
  let cache: CacheServer | undefined;
  let proxy: TestProxy | undefined;
  let f: FloxLab;

  beforeAll(async () => {
    const ca = makeTestCa(work, `DNS:${NAME}`);
    proxy = await startTestProxy(NAME);
    f = await startFloxLab({
      env: { NODE_EXTRA_CA_CERTS: ca.caFile, HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1,localhost' },
      substituters: async (hub) => {
        cache = await serveDirectory(hub.nix.caches.zstd!, { tls: ca });
        return [`https://${NAME}:${cache.port}`];
      },
    });
  }, 240_000);
  afterAll(async () => {
    if (f) expect(await f.stop()).toEqual([]);
    await cache?.close();
    proxy?.close();
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
    // every request of the create went through one kind of tunnel, to the cache
    expect(proxy!.seen.length).toBeGreaterThan(0);
    expect(new Set(proxy!.seen.map((s) => s.line))).toEqual(new Set([`CONNECT ${NAME}:${cache!.port}`]));
    const meta = join(f.stateDir, 'nix', 'meta');
    for (const r of readdirSync(meta).filter((n) => n.endsWith('.json'))) expect(JSON.parse(readFileSync(join(meta, r), 'utf8')).substituter).toBe(`https://${NAME}:${cache!.port}`);
  });
});
