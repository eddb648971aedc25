// Faults of the node itself, at the binary level: a full disk while unpacking, the runtime
// killed with SIGKILL at random points of a cold create, two shims creating the same cold
// environment at once, no delegate runtime, a state dir that cannot be written.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireSystem } from '../support/gates.js';
import { DIST } from '../support/paths.js';
import { startTestHub, type TestHub } from '../support/hub.js';
import { narGets, serveDirectory, type CacheServer } from '../support/nixcache.js';
import { activatedSpec, makeBundle, makeWork, runCreate, sha256, stateProblems, storePaths, writeConfig, type Work } from './support.js';

const ENV = 'flox.dev/environment';
const skip = requireSystem({ root: true, commands: ['mount', 'umount', 'flock'] });
let hub: TestHub;
let cache: CacheServer;
let work: Work;
let n = 0;
const mounts: string[] = [];

beforeAll(async () => {
  if (skip) return;
  if (!existsSync(DIST)) throw new Error('dist/ missing: run `npm run build` (npm test does)');
  hub = await startTestHub();
  cache = await serveDirectory(hub.nix.caches.zstd!);
  work = makeWork('faults-node');
}, 240_000);
afterAll(async () => {
  for (const m of mounts.reverse()) execFileSync('umount', ['-l', m]);
  await cache?.close();
  await hub?.close();
  if (work) rmSync(work.dir, { recursive: true, force: true });
});

function setup(o: { stateDir?: string; delegate?: string[]; nixTimeoutMs?: number } = {}) {
  const i = ++n;
  const stateDir = o.stateDir ?? join(work.dir, `state-${i}`);
  const config = writeConfig(join(work.dir, `config-${i}.toml`), {
    stateDir,
    gitUrl: hub.gitUrl,
    substituters: [cache.url],
    publicKey: hub.nix.publicKey,
    logFile: join(work.dir, `runtime-${i}.log`),
    ...(o.delegate && { delegate: o.delegate }),
    ...(o.nixTimeoutMs && { nixTimeoutMs: o.nixTimeoutMs }),
  });
  return { stateDir, config };
}

function tmpfs(dir: string, options: string): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

describe.skipIf(skip)('node faults', () => {
  it('disk full while unpacking (a 1 MiB tmpfs state dir): a store error, no partial path; with room, the same start succeeds', async () => {
    const stateDir = tmpfs(join(work.dir, 'small'), 'size=1m,mode=0755');
    const { config } = setup({ stateDir });
    const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/gitlab' }); // busybox alone is ~2 MB unpacked
    const before = sha256(join(bundle, 'config.json'));
    const r = await runCreate(work, bundle, { config });
    expect(r.status).toBe(1);
    expect(r.record).toBeUndefined();
    expect(r.logMsg).toMatch(/^flox: .*(ENOSPC|no space left)/i);
    expect(r.logMsg).toContain('public-owner/gitlab');
    expect(sha256(join(bundle, 'config.json'))).toBe(before);
    expect(stateProblems(stateDir)).toEqual([]);
    // grow the filesystem (what an operator does after freeing space): the next start succeeds
    execFileSync('mount', ['-o', 'remount,size=64m', stateDir]);
    const ok = await runCreate(work, bundle, { config });
    expect(ok.logMsg).toBeUndefined();
    expect(ok.status).toBe(0);
    expect(stateProblems(stateDir)).toEqual([]);
  });

  it('SIGKILL at random points of a cold create, 12 times on one state dir: never a partial path, and a normal start then succeeds', async () => {
    const { stateDir, config } = setup();
    // how long a cold create takes here, to spread the kill points over it
    const probeState = setup();
    const probe = await runCreate(work, makeBundle(work.dir, { [ENV]: 'public-owner/full' }), { config: probeState.config });
    expect(probe.status).toBe(0);
    // the kill points spread over the create as long as the last one took: once one create
    // completes, the next ones are warm and several times shorter than the cold probe
    let expected = probe.ms;
    const seen = { killed: 0, finished: 0 };
    const deadline = Date.now() + 60_000;
    for (let i = 0; i < 12 && Date.now() < deadline; i++) {
      const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/full' });
      const killAfterMs = Math.floor(Math.random() * expected * 1.1);
      const r = await runCreate(work, bundle, { config, killAfterMs });
      if (r.signal === 'SIGKILL') seen.killed++;
      else {
        seen.finished++;
        expected = r.ms;
      }
      expect(stateProblems(stateDir), `after a kill at ${killAfterMs} ms`).toEqual([]);
      // killed before runc: config.json is either untouched or completely rewritten, never torn
      expect(() => activatedSpec(bundle)).not.toThrow();
    }
    expect(seen.killed).toBeGreaterThan(0);
    const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/full' });
    const ok = await runCreate(work, bundle, { config, limitMs: 30_000 });
    expect(ok.logMsg).toBeUndefined();
    expect(ok.status).toBe(0);
    expect(activatedSpec(bundle).process.env.join('\n')).toContain('FLOX_ENV=/run/flox/env');
    expect(stateProblems(stateDir)).toEqual([]);
  }, 120_000);

  it('two shims create containers of the same cold environment at once: both start, each NAR fetched once', async () => {
    const { stateDir, config } = setup();
    const gets = narGets(cache);
    const bundles = [0, 1].map(() => makeBundle(work.dir, { [ENV]: 'public-owner/gitlab' }));
    const [a, b] = await Promise.all(bundles.map((bd) => runCreate(work, bd, { config })));
    for (const r of [a!, b!]) {
      expect(r.logMsg).toBeUndefined();
      expect(r.status).toBe(0);
    }
    const paths = storePaths(stateDir);
    expect(narGets(cache) - gets).toBe(paths.length);
    expect(activatedSpec(bundles[0]!).mounts).toEqual(activatedSpec(bundles[1]!).mounts);
    expect(stateProblems(stateDir)).toEqual([]);
  });

  it('no delegate runtime: a flox: error naming what was tried; config.json untouched; nothing fetched', async () => {
    const { stateDir, config } = setup({ delegate: ['/nonexistent/runc', 'no-such-crun'] });
    const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/hello' });
    const before = sha256(join(bundle, 'config.json'));
    const r = await runCreate(work, bundle, { config });
    expect(r.status).toBe(1);
    expect(r.logMsg).toMatch(/^flox: no delegate runtime found \(tried \/nonexistent\/runc, no-such-crun/);
    expect(sha256(join(bundle, 'config.json'))).toBe(before);
    expect(existsSync(stateDir)).toBe(false);
  });

  it('a state dir that cannot be written (read-only mount): a flox: error naming the path, no runc, config.json untouched', async () => {
    const stateDir = tmpfs(join(work.dir, 'readonly'), 'ro,size=1m');
    const { config } = setup({ stateDir });
    const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/hello' });
    const before = sha256(join(bundle, 'config.json'));
    const r = await runCreate(work, bundle, { config });
    expect(r.status).toBe(1);
    expect(r.record).toBeUndefined();
    expect(r.logMsg).toMatch(/^flox: /);
    expect(r.logMsg).toContain(stateDir);
    expect(r.logMsg).toMatch(/read-only|EROFS/i);
    expect(r.logMsg).not.toMatch(/\n|    at /); // one line, no stack trace
    expect(sha256(join(bundle, 'config.json'))).toBe(before);
  });
});
