// Every activation logs one structured `activated` line to the runtime's own log: which pod
// (namespace, name, uid), container, environment and generation, cache hits, bytes fetched,
// phase times and Node's boot time. Never the FloxHub token, also not when activation fails.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST } from '../support/paths.js';
import { startTestHub, type TestHub } from '../support/hub.js';
import { makeBundle, makeWork, runCreate, writeConfig, type Work } from '../faults/support.js';

let hub: TestHub;
let work: Work;
let config: string;
let logFile: string;

beforeAll(async () => {
  if (!existsSync(DIST)) throw new Error('dist/ missing: run `npm run build` (npm test does)');
  hub = await startTestHub();
  work = makeWork('observability');
  logFile = join(work.dir, 'runtime.log');
  config = writeConfig(join(work.dir, 'config.toml'), {
    stateDir: join(work.dir, 'state'),
    gitUrl: hub.gitUrl,
    substituters: [`${hub.url}/cache-zstd`],
    publicKey: hub.nix.publicKey,
    logFile,
  });
}, 240_000);
afterAll(async () => {
  await hub?.close();
  if (work) rmSync(work.dir, { recursive: true, force: true });
});

const lines = () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

function secret(token: string) {
  const dir = join(work.dir, `secret-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'floxhub-token'), token);
  return { destination: '/var/run/secrets/flox.dev', type: 'bind', source: dir, options: ['rbind', 'ro'] };
}

describe('the activated log line', () => {
  it('cold, then warm: every field present with the right values, and no token', async () => {
    for (const round of ['cold', 'warm']) {
      const bundle = makeBundle(work.dir, { 'flox.dev/environment': 'private-owner/secret' }, { mounts: [secret(hub.token)] });
      const r = await runCreate(work, bundle, { config });
      expect(r.status, r.stderr).toBe(0);
      const a = lines().filter((l) => l.msg === 'activated').at(-1)!;
      expect(a).toMatchObject({
        level: 'info',
        pod: 'ci/runner-abc',
        namespace: 'ci',
        podUid: '0f3a4b2c-1d2e-4f50-9a8b-7c6d5e4f3a2b',
        container: 'build',
        id: 'fa17c0de',
        environment: 'private-owner/secret',
        generation: 1,
        auth: 'pod',
        mode: 'run',
      });
      expect(typeof a.time).toBe('string');
      for (const k of ['cacheHits', 'pathsFetched', 'paths', 'bytesFetched', 'bootMs', 'ms']) expect(typeof a[k], k).toBe('number');
      // realise and render may run while the hub is asked (warm); ready: what was left of them after its answer
      expect(Object.keys(a.phasesMs)).toEqual(['resolve', 'realise', 'render', 'ready', 'inject']);
      if (round === 'cold') {
        expect(a.bytesFetched).toBeGreaterThan(0);
        expect(a.cacheHits).toBe(0);
        expect(a.hubCache).toBe(false);
      } else {
        expect(a.bytesFetched).toBe(0);
        expect(a.cacheHits).toBe(a.paths);
        expect(a.rendered).toBe('cached');
      }
    }
    expect(readFileSync(logFile, 'utf8')).not.toContain(hub.token);
  });

  it('a failed activation logs the failure with its context, and no token', async () => {
    const bundle = makeBundle(work.dir, { 'flox.dev/environment': 'private-owner/secret' }, { mounts: [secret('wrong-token-value')] });
    const r = await runCreate(work, bundle, { config });
    expect(r.status).toBe(1);
    const failed = lines().filter((l) => l.msg === 'activation failed').at(-1)!;
    expect(failed).toMatchObject({ level: 'error', environment: 'private-owner/secret', container: 'container build of pod ci/runner-abc' });
    expect(readFileSync(logFile, 'utf8')).not.toContain('wrong-token-value');
    expect(readFileSync(logFile, 'utf8')).not.toContain(hub.token);
  });
});
