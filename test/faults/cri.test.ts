// The faults a user sees through kubelet: a private containerd whose flox handler is the real
// bin/flox-runtime. The runtime reads its config at every create, so each case rewrites it
// (fresh state dir, fault-injecting substituter) without restarting containerd.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CriError } from '../e2e/support/cri.js';
import { startFloxLab, type FloxLab } from '../e2e/support/flox-lab.js';
import { e2eGate } from '../e2e/support/gate.js';
import { EMPTY_IMAGE } from '../e2e/support/images.js';
import { narGets, serveDirectory, type CacheServer } from '../support/nixcache.js';
import { stateProblems, storePaths } from './support.js';

const gate = e2eGate('faults seen over CRI');
const ENV = 'flox.dev/environment';

describe.skipIf(gate.skip)(gate.title, () => {
  let f: FloxLab;
  let cache: CacheServer;
  let original: string;
  let n = 0;
  const k = () => f.lab.kubelet;

  /** A fresh, cold state dir and our own substituter for the next creates. */
  function coldConfig(): string {
    const stateDir = join(f.work, `state-${++n}`);
    const text = original
      .replace(/^state-dir = .*$/m, `state-dir = "${stateDir}"`)
      .replace(/^substituters = .*$/m, `substituters = ["${cache.url}"]`);
    writeFileSync(f.configPath, text);
    return stateDir;
  }

  async function startError(pod: string, env: string): Promise<string> {
    return k().withPod({ name: pod, handler: 'flox', annotations: { [ENV]: env } }, async (p) => {
      try {
        await k().run(p, { name: 'app', image: EMPTY_IMAGE, command: ['hello'] });
      } catch (e) {
        if (e instanceof CriError) return e.details;
        throw e;
      }
      throw new Error('StartContainer succeeded unexpectedly');
    });
  }

  async function runHello(pod: string, env: string, name = 'app'): Promise<string[]> {
    return k().withPod({ name: pod, handler: 'flox', annotations: { [ENV]: env } }, async (p) => {
      const c = await k().run(p, { name, image: EMPTY_IMAGE, command: ['hello'] });
      expect((await k().waitForExit(c)).exit_code).toBe(0);
      return k().readLog(c).map((l) => l.line);
    });
  }

  beforeAll(async () => {
    f = await startFloxLab();
    original = readFileSync(f.configPath, 'utf8');
    cache = await serveDirectory(f.hub.nix.caches.zstd!);
  }, 240_000);
  afterAll(async () => {
    await cache?.close();
    if (f) expect(await f.stop()).toEqual([]);
  });

  it('FloxHub answering 503: StartContainer fails with the flox: message; after recovery the pod starts', async () => {
    const stateDir = coldConfig();
    f.hub.setDown('503');
    let err: string;
    try {
      err = await startError('hub-down', 'public-owner/hello');
    } finally {
      f.hub.setDown('');
    }
    expect(err).toMatch(/OCI runtime create failed: flox: cannot reach FloxHub for environment public-owner\/hello .*HTTP 503.*\(container app of pod default\/hub-down/);
    expect(err).not.toMatch(/unable to retrieve OCI runtime error/);
    expect(stateProblems(stateDir)).toEqual([]);
    expect(await runHello('hub-up', 'public-owner/hello')).toEqual([expect.stringMatching(/^Hello, world!/)]);
  });

  it('a corrupted NAR: StartContainer names the store path and the substituter; nothing committed; then the pod starts', async () => {
    const stateDir = coldConfig();
    cache.hook = (req, res, path) => {
      if (!path.startsWith('/nar/')) return false;
      const body = Buffer.from(readFileSync(join(f.hub.nix.caches.zstd!, path)));
      for (let i = 40; i < body.length; i += 97) body[i] = body[i]! ^ 0x5a;
      res.writeHead(200, { 'content-length': body.length }).end(body);
      return true;
    };
    let err: string;
    try {
      err = await startError('corrupt', 'public-owner/static');
    } finally {
      cache.hook = undefined;
    }
    expect(err).toMatch(/OCI runtime create failed: flox: .*\/nix\/store\/[0-9a-z]{32}-\S+.*is corrupt.*public-owner\/static/);
    expect(err).toContain(cache.url);
    expect(storePaths(stateDir).filter((p) => !existsSync(join(stateDir, 'nix/meta', `${p}.json`)))).toEqual([]);
    expect(stateProblems(stateDir)).toEqual([]);
    expect(await runHello('clean', 'public-owner/static')).toEqual(['Hello, world!']);
  });

  it('two containerd shims create containers of the same cold environment at once: both run, each NAR fetched once', async () => {
    const stateDir = coldConfig();
    const before = narGets(cache);
    const lines = await Promise.all([runHello('twin-a', 'public-owner/gitlab', 'a'), runHello('twin-b', 'public-owner/gitlab', 'b')]);
    expect(lines).toEqual([['Hello, world!'], ['Hello, world!']]);
    expect(narGets(cache) - before).toBe(storePaths(stateDir).length);
    expect(stateProblems(stateDir)).toEqual([]);
  });
});
