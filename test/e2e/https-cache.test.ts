// A pod whose store paths come from an https binary cache behind a private CA, trusted through
// NODE_EXTRA_CA_CERTS in containerd's environment, as a node behind a corporate proxy or with an
// in-house cache has it. This runs the container path exactly as kubelet drives it: the runtime
// code loaded from its V8 code cache, where a dynamic import of node:tls once failed.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CacheServer, serveDirectory } from '../support/nixcache.js';
import { makeTestCa } from '../support/test-ca.js';
import { startFloxLab, type FloxLab } from './support/flox-lab.js';
import { e2eGate } from './support/gate.js';
import { EMPTY_IMAGE } from './support/images.js';

const gate = e2eGate('pods from an https cache with a private CA');

describe.skipIf(gate.skip)(gate.title, () => {
  const work = mkdtempSync(join(tmpdir(), 'flox-e2e-https-'));
  let cache: CacheServer | undefined;
  let f: FloxLab;

  beforeAll(async () => {
    const ca = makeTestCa(work, 'IP:127.0.0.1');
    f = await startFloxLab({
      env: { NODE_EXTRA_CA_CERTS: ca.caFile },
      substituters: async (hub) => {
        cache = await serveDirectory(hub.nix.caches.zstd!, { tls: ca });
        return [cache.url];
      },
    });
  }, 240_000);
  afterAll(async () => {
    if (f) expect(await f.stop()).toEqual([]);
    await cache?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('a cold pod realises its closure over https and runs', async () => {
    const k = f.lab.kubelet;
    const lines = await k.withPod({ name: 'https-cold', handler: 'flox', annotations: { 'flox.dev/environment': 'public-owner/hello' } }, async (pod) => {
      const c = await k.run(pod, { name: 'app', image: EMPTY_IMAGE, command: ['hello'] });
      expect((await k.waitForExit(c)).exit_code).toBe(0);
      return k.readLog(c).map((l) => l.line);
    });
    expect(lines).toEqual(['Hello, world!']);
    expect(f.activations().at(-1)).toMatchObject({ environment: 'public-owner/hello', pathsFetched: expect.any(Number) });
    expect(f.activations().at(-1)!.pathsFetched).toBeGreaterThan(0);
    // each path's record names the cache it came from
    const meta = join(f.stateDir, 'nix', 'meta');
    const records = readdirSync(meta).filter((n) => n.endsWith('.json'));
    expect(records.length).toBeGreaterThan(0);
    for (const r of records) expect(JSON.parse(readFileSync(join(meta, r), 'utf8')).substituter).toMatch(/^https:\/\/127\.0\.0\.1:/);
  });
});
