#!/usr/bin/env node
// Issue 4 benchmark: what a container start costs in FloxHub resolution and profile rendering,
// against the local hub (git http-backend on 127.0.0.1) with the real Nix fixture's store paths:
//   warm live     resolve (one ref check over HTTP, commit cached) + render (already there) + plan
//   warm pinned   resolve of a cached pinned generation (no network) + render + plan
//   fresh         a generation pushed just before: ref check + git fetch + parse + render + plan
// plus the ref check done in-process vs `git ls-remote` (why the warm path does not spawn git).
// Measured in one Node process: Node start-up and bundle load are the wrapper's own bench.
//
//   node scripts/bench/env.mjs [-n 20] [--json]
//   import { benchEnv, formatEnvBench } from './env.mjs'   (for scripts/bench/run.mjs)
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { importTs, repoRoot } from '../e2e/load-ts.mjs';
import { median, percentile } from './lib.mjs';

const execFileP = promisify(execFile);
const now = () => Number(process.hrtime.bigint()) / 1e6;

function nixFixture() {
  const dir = process.env.FLOX_NIX_FIXTURE_DIR ?? join(repoRoot, '.cache/nix-fixture');
  const r = spawnSync('bash', [join(repoRoot, 'scripts/fixtures/make-nix-cache.sh'), dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error('make-nix-cache.sh failed');
  return JSON.parse(readFileSync(join(dir, 'paths.json'), 'utf8'));
}

export async function benchEnv({ rounds = Number(process.env.BENCH_ROUNDS ?? 20) } = {}) {
  const nix = nixFixture();
  const storeDir = join(nix.localStore, 'nix/store');
  const fixtures = await import(pathToFileURL(join(repoRoot, 'scripts/fixtures/make-floxhub.mjs')).href);
  const { startHub } = await import(pathToFileURL(join(repoRoot, 'scripts/hub/server.mjs')).href);
  const { resolveEnvironment } = await importTs('src/floxhub/index.ts');
  const { renderEnvironment, planActivation } = await importTs('src/env/index.ts');
  const { listRefs } = await importTs('src/floxhub/smart-http.ts');
  const { silentLogger: log } = await importTs('src/log/logger.ts');

  const work = mkdtempSync(join(tmpdir(), 'bench-env-'));
  const hubDir = join(work, 'hub');
  const summary = fixtures.createFloxhub({ outDir: hubDir, paths: nix });
  const hub = await startHub({ root: summary.gitRoot, tokens: summary.tokensFile, caches: {}, port: 0 });
  const stateDir = join(work, 'state');
  const system = 'x86_64-linux';
  const opts = { gitUrl: hub.gitUrl, stateDir, timeoutMs: 10_000, log };
  const baseEnv = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'];

  const start = async (ref, mode = 'run') => {
    const t0 = now();
    const resolved = await resolveEnvironment(ref, opts);
    const t1 = now();
    const r = await renderEnvironment({ resolved, mode, system, stateDir, storeDir, log });
    const plan = planActivation({ resolved, mode, baseEnv, cwd: '/', hostDir: r.hostDir });
    const t2 = now();
    if (!plan.env.FLOX_ENV) throw new Error('no plan');
    return { total: t2 - t0, resolve: t1 - t0, render: t2 - t1, fromCache: resolved.fromCache, created: r.created };
  };

  const samples = { warmLive: [], warmPinned: [], fresh: [], refsInProcess: [], refsGitCli: [] };
  try {
    // the full environment (busybox applets: ~400 links) is the realistic shape
    const live = { owner: 'public-owner', name: 'full' };
    const pinned = { owner: 'public-owner', name: 'multi', generation: 1 };
    await start(live);
    await start(pinned);
    const fullToml = `schema-version = "1.10.0"\n\n[install]\nbusybox.pkg-path = "busybox"\nhello.pkg-path = "hello"\npyish.pkg-path = "pyish"\n[vars]\nN = "$RANDOM_N"\n`;
    const P = nix.packages;
    for (let i = -1; i < rounds; i++) {
      const a = await start(live);
      const b = await start(pinned);
      if (!a.fromCache || a.created || !b.fromCache || b.created) throw new Error('warm path was not warm');
      // a new generation on a branch of its own, pushed outside the timing
      const toml = fullToml.replace('$RANDOM_N', String(i));
      fixtures.pushGeneration({
        outDir: hubDir, owner: 'public-owner', name: 'bench', manifestToml: toml,
        lock: fixtures.makeLock(toml, ['busybox', 'hello', 'pyish'].map((r) => fixtures.catalogEntry(r, P[r]))),
      });
      const c = await start({ owner: 'public-owner', name: 'bench' });
      if (c.fromCache || !c.created) throw new Error('fresh path was not fresh');
      const repo = `${hub.gitUrl}/public-owner/floxmeta`;
      let t = now();
      await listRefs(repo, { timeoutMs: 5000 });
      const inProc = now() - t;
      t = now();
      // async: the hub runs in this very process
      await execFileP('git', ['ls-remote', repo, 'refs/heads/full'], { env: { PATH: process.env.PATH, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });
      const cli = now() - t;
      if (i < 0) continue; // warm-up round
      samples.warmLive.push(a);
      samples.warmPinned.push(b);
      samples.fresh.push(c);
      samples.refsInProcess.push(inProc);
      samples.refsGitCli.push(cli);
    }
  } finally {
    await hub.close();
    rmSync(work, { recursive: true, force: true });
  }
  const stat = (xs) => ({ median: median(xs), p90: percentile(xs, 90), n: xs.length });
  const part = (xs) => ({ total: stat(xs.map((x) => x.total)), resolve: stat(xs.map((x) => x.resolve)), render: stat(xs.map((x) => x.render)) });
  return {
    warmLive: part(samples.warmLive),
    warmPinned: part(samples.warmPinned),
    fresh: part(samples.fresh),
    refCheck: { inProcess: stat(samples.refsInProcess), gitLsRemote: stat(samples.refsGitCli) },
  };
}

export function formatEnvBench(r) {
  const f = (s) => `median ${s.median.toFixed(1).padStart(6)} ms  p90 ${s.p90.toFixed(1).padStart(6)} ms  n=${s.n}`;
  const row = (name, p) => `  ${name.padEnd(44)} ${f(p.total)}   (resolve ${p.resolve.median.toFixed(1)} + render/plan ${p.render.median.toFixed(1)})`;
  return [
    '## FloxHub resolve + render + plan per container start (local hub, in-process)',
    row('warm: live generation, commit cached', r.warmLive),
    row('warm: pinned generation cached (no network)', r.warmPinned),
    row('fresh: new generation (fetch + render)', r.fresh),
    '## ref check for the live generation',
    `  ${'in-process GET info/refs'.padEnd(44)} ${f(r.refCheck.inProcess)}`,
    `  ${'git ls-remote (spawned)'.padEnd(44)} ${f(r.refCheck.gitLsRemote)}`,
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: v } = parseArgs({ options: { n: { type: 'string', short: 'n', default: process.env.BENCH_ROUNDS ?? '20' }, json: { type: 'boolean', default: false } } });
  benchEnv({ rounds: Number(v.n) }).then(
    (r) => {
      console.log(v.json ? JSON.stringify(r, null, 2) : formatEnvBench(r));
      process.exit(0);
    },
    (e) => {
      console.error(`env bench: ${e?.stack ?? e}`);
      process.exit(1);
    },
  );
}
