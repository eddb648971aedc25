// FloxHub faults at the binary level: bin/flox-runtime `create` as the shim runs it, against the
// local hub behind a fault proxy. Each case: the user sees one `flox:` line naming the
// environment and the container, runc is not called, config.json is untouched, nothing half
// written is left, and once the fault is gone the same create succeeds (no stale lock).
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST } from '../support/paths.js';
import { startTestHub, type TestHub } from '../support/hub.js';
import { makeBundle, makeWork, runCreate, sha256, startFaultProxy, stateProblems, writeConfig, type FaultProxy, type Work } from './support.js';

const ENV = 'flox.dev/environment';
let hub: TestHub;
let proxy: FaultProxy;
let work: Work;
let n = 0;

beforeAll(async () => {
  if (!existsSync(DIST)) throw new Error('dist/ missing: run `npm run build` (npm test does)');
  hub = await startTestHub();
  proxy = await startFaultProxy(hub.url);
  work = makeWork('faults-hub');
}, 240_000);
afterAll(async () => {
  await proxy?.close();
  await hub?.close();
  if (work) rmSync(work.dir, { recursive: true, force: true });
});

function setup(floxhubTimeoutMs = 3000) {
  const i = ++n;
  const stateDir = join(work.dir, `state-${i}`);
  const config = writeConfig(join(work.dir, `config-${i}.toml`), {
    stateDir,
    gitUrl: `${proxy.url}/git`,
    substituters: [`${hub.url}/cache-zstd`],
    publicKey: hub.nix.publicKey,
    logFile: join(work.dir, `runtime-${i}.log`),
    floxhubTimeoutMs,
  });
  return { stateDir, config };
}

async function faultThenRecovery(mode: 'hang' | 'reset-pack' | '503', timeoutMs: number, expected: RegExp) {
  const { stateDir, config } = setup(timeoutMs);
  const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/static' });
  const before = sha256(join(bundle, 'config.json'));
  proxy.mode = mode;
  let r;
  try {
    r = await runCreate(work, bundle, { config });
  } finally {
    proxy.mode = '';
  }
  expect(r.status).toBe(1);
  expect(r.record).toBeUndefined(); // runc never called
  expect(r.logMsg).toMatch(expected);
  expect(r.logMsg).toMatch(/\(container build of pod ci\/runner-abc/);
  expect(r.stderr).toBe(`${r.logMsg}\n`);
  expect(sha256(join(bundle, 'config.json'))).toBe(before);
  expect(stateProblems(stateDir)).toEqual([]);
  // no fetch temp dir left in the FloxHub cache
  const leftovers = existsSync(join(stateDir, 'floxhub')) ? readdirSync(join(stateDir, 'floxhub'), { recursive: true }).map(String).filter((p) => /fetch-|\.tmp-/.test(p)) : [];
  expect(leftovers).toEqual([]);

  const ok = await runCreate(work, bundle, { config });
  expect(ok.stderr).toBe('fake-stderr\n'); // only runc's own output
  expect(ok.status).toBe(0);
  expect(ok.record?.argv).toContain('create');
  return r;
}

describe('FloxHub faults during a cold create', () => {
  it('5xx: "cannot reach FloxHub", then the next start succeeds', async () => {
    await faultThenRecovery('503', 3000, /^flox: cannot reach FloxHub for environment public-owner\/static .*503/);
  });

  it('a hub that accepts and never answers: bounded by floxhub.timeout-ms', async () => {
    const r = await faultThenRecovery('hang', 1500, /^flox: cannot reach FloxHub for environment public-owner\/static .*1500 ms/);
    expect(r.ms).toBeGreaterThan(1400);
    expect(r.ms).toBeLessThan(1500 + 4000); // one timeout plus Node's start, not a retry storm
  });

  it('connection reset in the middle of the pack: "fetching environment … failed", no cache entry', async () => {
    await faultThenRecovery('reset-pack', 3000, /^flox: fetching environment public-owner\/static .* failed/);
    expect(proxy.requests.some((q) => q.startsWith('POST') && q.includes('git-upload-pack'))).toBe(true);
  });
});

describe('the timeouts stay inside kubelet\'s 2-minute runtime request timeout', () => {
  it('floxhub.timeout-ms above 110 s is refused as a config error before anything runs', async () => {
    const { config } = setup(120_000);
    const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/static' });
    const r = await runCreate(work, bundle, { config });
    expect(r.status).toBe(1);
    expect(r.record).toBeUndefined();
    expect(r.logMsg).toMatch(/^flox: config file .* is invalid: floxhub\.timeout-ms/);
  });
});
