// The operator commands through the built CLI (dist/flox-runtime.mjs) against the local hub:
// env pull / ls, explain (bundle dry run, container record), doctor, gc (never a path in use,
// also while 8 processes pull concurrently).
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateContainer } from '../../../src/activate/pipeline.js';
import { parseConfig } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/log/logger.js';
import { loadSpecFile } from '../../../src/oci/spec.js';
import { lockGc } from '../../../src/ops/gc-lock.js';
import { readInventory, closureOf } from '../../../src/ops/inventory.js';
import { listUsage } from '../../../src/ops/usage.js';
import { decide } from '../../../src/pod/request.js';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { makeBundle } from '../../support/busybox-bundle.js';
import { requireSystem } from '../../support/gates.js';
import { FRONTEND, REPO } from '../../support/paths.js';
import { type OpsLab, startOpsLab } from './support.js';

let lab: OpsLab;
beforeAll(async () => {
  await execa('npm', ['run', 'build'], { cwd: REPO });
  lab = await startOpsLab();
}, 300_000);
afterAll(async () => {
  await lab?.stop();
});

const emptyRoot = () => {
  const d = join(lab.work, 'empty-root');
  mkdirSync(d, { recursive: true });
  return d;
};
const storeNames = (stateDir: string) => (existsSync(join(stateDir, 'store')) ? readdirSync(join(stateDir, 'store')).filter((n) => !n.startsWith('.')) : []);
const tree = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).sort() : []);

/** Every rendered env's closure is in the store with its metadata. */
function assertRenderedEnvsComplete(stateDir: string): number {
  const inv = readInventory(stateDir);
  const byName = new Map(inv.paths.map((p) => [p.basename, p]));
  for (const e of inv.envs) {
    const closure = closureOf(e.roots, byName);
    for (const r of e.roots) expect(byName.has(r), `${e.key}: root ${r}`).toBe(true);
    for (const b of closure) {
      expect(existsSync(join(stateDir, 'store', b)), `${e.key}: ${b}`).toBe(true);
      for (const ref of byName.get(b)!.references) expect(byName.has(ref), `${e.key}: ${b} -> ${ref}`).toBe(true);
    }
  }
  return inv.envs.length;
}

describe('exit codes', () => {
  it('usage errors exit 2', async () => {
    // an unknown word is runc's to answer (test/integration/wrapper/runc-cli.test.ts)
    const cases = [['env'], ['env', 'frob'], ['gc', '--bogus'], ['doctor', '--timeout', 'x'], ['explain'], ['gc', '--grace', 'soon']];
    const codes = await Promise.all(cases.map(async (c) => [c.join(' '), (await lab.cli(c)).exitCode]));
    expect(Object.fromEntries(codes)).toEqual(Object.fromEntries(cases.map((c) => [c.join(' '), 2])));
  });
});

describe('env pull / env ls', () => {
  it('env pull public-owner/hello realises the closure with progress lines and renders the run profile', async () => {
    const r = await lab.cli(['env', 'pull', 'public-owner/hello']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^resolving public-owner\/hello on http:\/\/127\.0\.0\.1:\d+\/git$/m);
    expect(r.stdout).toMatch(/^closure: 2 paths, 2 to fetch/m);
    expect(r.stdout).toMatch(/^fetched \/nix\/store\/[0-9a-z]{32}-hello-2\.12\.1 .*\[\d\/2\]/m);
    expect(r.stdout).toMatch(/^pulled public-owner\/hello:1 \(run\): 2 paths, 2 fetched/m);
    const hello = lab.hub.nix.packages.hello!.out!.slice('/nix/store/'.length);
    expect(storeNames(lab.stateDir)).toContain(hello);
    expect(readdirSync(join(lab.stateDir, 'envs')).filter((n) => n.endsWith('-hello-1-run'))).toHaveLength(1);
    // a second pull fetches nothing
    const again = await lab.cli(['env', 'pull', 'public-owner/hello', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ environment: 'public-owner/hello', generation: 1, pathsFetched: 0, rendered: 'cached', mode: 'run' });
  });

  it('env pull --mode dev of a pinned generation; bad input exits 2', async () => {
    const r = await lab.cli(['env', 'pull', 'public-owner/multi:3', '--mode', 'dev', '--json']);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ generation: 3, mode: 'dev', rendered: 'new' });
    expect((await lab.cli(['env', 'pull', 'public-owner/multi', '--mode', 'prod'])).exitCode).toBe(2);
    expect((await lab.cli(['env', 'pull', '../etc'])).exitCode).toBe(2);
    expect((await lab.cli(['env', 'pull'])).exitCode).toBe(2);
    const missing = await lab.cli(['env', 'pull', 'public-owner/nope']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/not found/);
  });

  it('env ls lists environments, generations, sizes and last use', async () => {
    const r = await lab.cli(['env', 'ls']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^ENVIRONMENT\s+GEN\s+MODES\s+PATHS\s+SIZE\s+LAST USED$/m);
    expect(r.stdout).toMatch(/^public-owner\/hello\s+1\s+run\s+2\s+\d.* ago$/m);
    expect(r.stdout).toMatch(/^public-owner\/multi\s+3\s+dev\s+\d+\s+/m);
    const rows = JSON.parse((await lab.cli(['env', 'ls', '--json'])).stdout) as Array<Record<string, unknown>>;
    const hello = rows.find((x) => x.environment === 'public-owner/hello');
    expect(hello).toMatchObject({ generation: 1, modes: ['run'], cached: true, rendered: true, closurePaths: 2 });
    expect(hello!.closureBytes).toBeGreaterThan(1_000_000);
    expect(Date.now() - Date.parse(String(hello!.lastUsed))).toBeLessThan(120_000);
  });
});

describe('explain', () => {
  function bundle(name: string, fixture: string, annotations: Record<string, string | undefined>): string {
    const dir = join(lab.work, name);
    mkdirSync(join(dir, 'rootfs'), { recursive: true });
    const spec = JSON.parse(readFileSync(join(REPO, 'test/fixtures/specs', fixture), 'utf8')) as { annotations: Record<string, string> };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === undefined) delete spec.annotations[k];
      else spec.annotations[k] = v;
    }
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
    return dir;
  }

  it('a bundle: decision and plan (generation, mounts, env, args) without realising or rendering anything', async () => {
    const b = bundle('b-static', 'containerd-1.7-build.json', { 'flox.dev/environment': 'public-owner/static', 'flox.dev/activate-mode': 'run' });
    const before = { store: tree(join(lab.stateDir, 'store')), envs: tree(join(lab.stateDir, 'envs')), config: readFileSync(join(b, 'config.json'), 'utf8') };
    const r = await lab.cli(['explain', b]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^decision:  activate — flox.dev\/environment names public-owner\/static$/m);
    expect(r.stdout).toMatch(/^generation: 1 \(commit [0-9a-f]{12}/m);
    expect(r.stdout).toMatch(/^closure: .* to fetch$/m);
    expect(r.stdout).toMatch(/^profile: .*-static-1-run \(would be rendered\)$/m);
    expect(r.stdout).toMatch(/^ {2}\/nix\/store <- .*\/state\/store /m);
    expect(r.stdout).toMatch(/^ {2}\/run\/flox\/env <- .*\/state\/envs\/.*-static-1-run /m);
    expect(r.stdout).toMatch(/^ {2}FLOX_ENV=\/run\/flox\/env$/m);
    expect(r.stdout).toMatch(/^ {2}MODE_NAME=static$/m);
    expect(r.stdout).toMatch(/^args: \["sh","-c","echo hi"\]$/m);
    expect({ store: tree(join(lab.stateDir, 'store')), envs: tree(join(lab.stateDir, 'envs')), config: readFileSync(join(b, 'config.json'), 'utf8') }).toEqual(before);
    // --offline works from the node cache now that the generation was resolved once
    const off = JSON.parse((await lab.cli(['explain', b, '--offline', '--json'])).stdout) as { plan: { generation: number; summary: { stale: string; dryRun: { missingPaths: string[] } } } };
    expect(off.plan.generation).toBe(1);
    expect(off.plan.summary.stale).toMatch(/offline/);
    expect(off.plan.summary.dryRun.missingPaths.length).toBeGreaterThan(0);
  });

  it('a sandbox and a skipped container: the reason; an unknown environment offline: exit 1 with the reason', async () => {
    const sb = await lab.cli(['explain', bundle('b-sandbox', 'containerd-1.6-sandbox.json', { 'flox.dev/environment': 'public-owner/hello' })]);
    expect(sb.exitCode).toBe(0);
    expect(sb.stdout).toMatch(/decision: {2}skip — the pod sandbox \(pause\) container is never activated/);
    const sk = await lab.cli(['explain', bundle('b-skip', 'containerd-1.7-build.json', { 'flox.dev/environment': 'public-owner/hello', 'flox.dev/skip-containers': 'build' })]);
    expect(sk.stdout).toMatch(/decision: {2}skip — named in flox.dev\/skip-containers/);
    const off = await lab.cli(['explain', bundle('b-off', 'containerd-1.7-build.json', { 'flox.dev/environment': 'public-owner/gitlab' }), '--offline']);
    expect(off.exitCode).toBe(1);
    expect(off.stdout).toMatch(/^would fail: --offline: the node's FloxHub cache has no usable copy of public-owner\/gitlab/m);
  });

  it('a container id: exec record, the activated log line and the rewritten spec', async () => {
    const root = join(lab.work, 'runc-root');
    const id = 'c0ffee01';
    const b = bundle('b-running', 'containerd-1.7-build.json', { 'flox.dev/environment': 'public-owner/hello' });
    const spec = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8')) as Record<string, any>;
    spec.mounts.push({ destination: '/run/flox/env', type: 'bind', source: join(lab.stateDir, 'envs', 'k-hello'), options: ['rbind', 'ro'] });
    spec.process.env.push('FLOX_ENV=/run/flox/env');
    writeFileSync(join(b, 'config.json'), JSON.stringify(spec));
    mkdirSync(join(root, id), { recursive: true });
    writeFileSync(join(root, id, 'state.json'), JSON.stringify({ id, config: { labels: [`bundle=${b}`] } }));
    writeFileSync(join(root, id, 'flox-exec.json'), JSON.stringify({ version: 1, environment: 'public-owner/hello', generation: 1, env: ['FLOX_ENV=/run/flox/env'], wrapArgs: [] }));
    appendFileSync(lab.logFile, `${JSON.stringify({ time: '2026-11-28T03:00:00.000Z', level: 'info', msg: 'activated', id, container: 'container build of pod ci/runner-abc', environment: 'public-owner/hello', generation: 1, commit: 'f'.repeat(40), paths: 2, pathsFetched: 0, cacheHits: 2, bytesFetched: 0, rendered: 'cached', ms: 12 })}\n`);
    const r = await lab.cli(['explain', id, '--root', root]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`bundle:    ${b}`);
    expect(r.stdout).toMatch(/^record: {4}public-owner\/hello generation 1/m);
    expect(r.stdout).toMatch(/^activated: 2026-11-28T03:00:00.000Z public-owner\/hello generation 1 \(commit ffffffffffff\), 2 paths, 0 fetched, profile cached, 12 ms$/m);
    expect(r.stdout).toMatch(/^ {2}\/run\/flox\/env <- .*k-hello \[bind: rbind,ro\]$/m);
    const j = JSON.parse((await lab.cli(['explain', id, '--root', root, '--json'])).stdout) as Record<string, any>;
    expect(j).toMatchObject({ kind: 'container', id, bundle: b, record: { generation: 1 }, activated: { msg: 'activated', id } });
    const gone = await lab.cli(['explain', 'nosuchid', '--root', root]);
    expect(gone.exitCode).toBe(1);
    expect(gone.stdout).toMatch(/no container nosuchid under/);
  });
});

describe('doctor', () => {
  it('passes FloxHub, substituter, state dir, clock and disk checks against the local hub', async () => {
    const r = await lab.cli(['doctor', '--no-cri', '--json']);
    const j = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ name: string; status: string }> };
    expect(Object.fromEntries(j.checks.map((c) => [c.name, c.status]))).toMatchObject({
      config: 'pass',
      'state-dir': 'pass',
      floxhub: 'pass',
      clock: 'pass',
      [`substituter ${lab.hub.url}/cache-zstd`]: 'pass',
    });
    // the delegate list ends with /bin/true, which exists
    expect(j.checks.find((c) => c.name === 'delegate')?.status).toBe('pass');
    expect(j.ok).toBe(true);
    expect(r.exitCode).toBe(0);
  });

  it('fails clearly on a dead FloxHub URL and a dead substituter (exit 1)', async () => {
    const cfg = lab.writeConfig('dead', { gitUrl: 'http://127.0.0.1:1/git', substituters: ['http://127.0.0.1:1/cache'] });
    const r = await lab.cli(['doctor', '--no-cri', '--timeout', '2000'], { config: cfg });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}floxhub +http:\/\/127\.0\.0\.1:1\/git unreachable: ECONNREFUSED/m);
    expect(r.stdout).toMatch(/fix: check the node network, proxy and floxhub.git-url/);
    expect(r.stdout).toMatch(/^FAIL {2}substituter http:\/\/127\.0\.0\.1:1\/cache +unreachable: ECONNREFUSED/m);
    expect(r.stdout).toMatch(/^WARN {2}clock/m);
  });

  it('checks a containerd config: a missing handler fails with the install fix', async () => {
    const host = join(lab.work, 'host');
    mkdirSync(join(host, 'etc/containerd'), { recursive: true });
    writeFileSync(join(host, 'etc/containerd/config.toml'), 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\nruntime_type = "io.containerd.runc.v2"\n');
    const r = await lab.cli(['doctor', '--host-root', host, '--runtime', 'containerd']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}cri-handler .*has no `flox` runtime handler/m);
    expect((await lab.cli(['doctor', '--runtime', 'docker'])).exitCode).toBe(2);
  });
});

describe('gc', () => {
  it('removes an unused generation and its paths, never a path a container uses', async () => {
    const stateDir = join(lab.work, 'gc-state');
    const cfg = lab.writeConfig('gc', { stateDir });
    for (const ref of ['public-owner/multi:1', 'public-owner/multi:2', 'public-owner/multi:3']) expect((await lab.cli(['env', 'pull', ref, '--json'], { config: cfg })).exitCode).toBe(0);
    const hello2 = lab.hub.nix.packages.hello2!.out!.slice('/nix/store/'.length);
    const hello = lab.hub.nix.packages.hello!.out!.slice('/nix/store/'.length);
    expect(storeNames(stateDir)).toEqual(expect.arrayContaining([hello, hello2]));
    // a running container uses generation 1 (exec record) — its render must stay
    const root = join(lab.work, 'gc-runc');
    mkdirSync(join(root, 'ctr1'), { recursive: true });
    writeFileSync(join(root, 'ctr1', 'flox-exec.json'), JSON.stringify({ version: 1, environment: 'public-owner/multi:1', generation: 1, env: [], wrapArgs: [] }));

    const dry = JSON.parse((await lab.cli(['gc', '--root', root, '--keep-generations', '1', '--grace', '0', '--dry-run', '--json'], { config: cfg })).stdout) as Record<string, any>;
    expect(dry.removeEnvs.map((e: any) => e.generation)).toEqual([2]);
    expect(dry.removePaths.map((p: any) => p.basename)).toEqual([hello2]);
    expect(storeNames(stateDir)).toContain(hello2); // dry run removed nothing

    const r = await lab.cli(['gc', '--root', root, '--keep-generations', '1', '--grace', '0'], { config: cfg });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^removed 1 store path\(s\)/m);
    expect(storeNames(stateDir)).not.toContain(hello2);
    expect(storeNames(stateDir)).toContain(hello);
    const gens = readInventory(stateDir).envs.map((e) => e.generation).sort();
    // generation 2 is forgotten in the metadata of the paths it shared with the kept ones
    expect(readInventory(stateDir).paths.flatMap((p) => p.users).filter((u) => u === 'public-owner/multi:2')).toEqual([]);
    const ls = JSON.parse((await lab.cli(['env', 'ls', '--json'], { config: cfg })).stdout) as Array<{ generation: number; rendered: boolean; closurePaths: number }>;
    // nothing of generation 2 is left: no render, no paths, and its FloxHub pin went with them
    expect(ls.find((r) => r.generation === 2)).toBeUndefined();
    expect(ls.find((r) => r.generation === 1)).toMatchObject({ rendered: true });
    // leftovers of an interrupted render and download go too (no activation holds the lock)
    mkdirSync(join(stateDir, 'envs', '.tmp-abc-hello-1-run-123-beef'), { recursive: true });
    mkdirSync(join(stateDir, 'store', '.tmp', `${hello2}.999.x`), { recursive: true });
    expect(JSON.parse((await lab.cli(['gc', '--root', root, '--keep-generations', '1', '--grace', '0', '--json'], { config: cfg })).stdout)).toMatchObject({ tmpRemoved: 2, removePaths: [] });
    expect(readdirSync(join(stateDir, 'envs')).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(readdirSync(join(stateDir, 'store', '.tmp'))).toEqual([]);
    expect(gens).toEqual([1, 3]);
    assertRenderedEnvsComplete(stateDir);
    // a pod start in progress (shared lock) keeps gc out; --lock-timeout gives up
    const held = await lockGc(stateDir, 'shared');
    const busy = await lab.cli(['gc', '--root', root, '--lock-timeout', '500ms'], { config: cfg });
    held.release();
    // a runc root that does not exist would hide every container: refused
    const noRoot = await lab.cli(['gc', '--root', join(lab.work, 'no-such-root')], { config: cfg });
    expect(noRoot.exitCode).toBe(2);
    expect(noRoot.stderr).toMatch(/runc root .*no-such-root does not exist; nothing removed/);
    expect(busy.exitCode).toBe(1);
    expect(busy.stderr).toMatch(/gc\.lock is held by another process/);
    // without the container, keep 0: everything goes
    const all = await lab.cli(['gc', '--root', emptyRoot(), '--keep-generations', '0', '--grace', '0', '--json'], { config: cfg });
    expect(JSON.parse(all.stdout)).toMatchObject({ keptPaths: 0 });
    expect(storeNames(stateDir)).toEqual([]);
    // and a pull brings it back
    expect((await lab.cli(['env', 'pull', 'public-owner/multi:1'], { config: cfg })).exitCode).toBe(0);
  });

  it('8 concurrent pulls while gc runs repeatedly: every pull completes and every rendered env stays complete', async () => {
    const stateDir = join(lab.work, 'gc-race');
    const cfg = lab.writeConfig('race', { stateDir });
    const refs = ['public-owner/multi:1', 'public-owner/multi:2', 'public-owner/multi:3', 'public-owner/hello', 'public-owner/static', 'public-owner/gitlab', 'public-owner/full', 'public-owner/multi:3'];
    // something for the first gc to remove, whenever it gets the lock
    expect((await lab.cli(['env', 'pull', 'public-owner/priority'], { config: cfg })).exitCode).toBe(0);
    let pulling = true;
    let gcRuns = 0;
    let removed = 0;
    const gcLoop = (async () => {
      while (pulling) {
        const r = await lab.cli(['gc', '--root', emptyRoot(), '--keep-generations', '0', '--grace', '0', '--json'], { config: cfg });
        expect(r.exitCode, r.stderr).toBe(0);
        const j = JSON.parse(r.stdout) as { removePaths: unknown[]; busyPaths: unknown[]; removeEnvs: unknown[] };
        removed += j.removePaths.length - j.busyPaths.length + j.removeEnvs.length;
        gcRuns++;
      }
    })();
    // staggered starts: flock has no writer preference, so gc gets in between pulls, not only around them
    const pulls = await Promise.all(
      refs.map(async (ref, i) => {
        await new Promise((r) => setTimeout(r, i * 150));
        return lab.cli(['env', 'pull', ref, '--json', ...(i % 2 ? ['--mode', 'dev'] : [])], { config: cfg });
      }),
    );
    pulling = false;
    await gcLoop;
    for (const [i, p] of pulls.entries()) {
      expect(p.exitCode, `${refs[i]}: ${p.stderr}`).toBe(0);
      expect(JSON.parse(p.stdout).paths).toBeGreaterThan(0);
    }
    // gc really deleted things while pulls ran (keep 0, no grace)
    expect(gcRuns).toBeGreaterThan(0);
    expect(removed).toBeGreaterThan(0);
    console.log(`gc runs during pulls: ${gcRuns}, removed ${removed} paths/envs`);
    assertRenderedEnvsComplete(stateDir);
    // and once more with gc started together with a round of pulls
    for (let round = 0; round < 1; round++) {
      const [, ...more] = await Promise.all([
        lab.cli(['gc', '--root', emptyRoot(), '--keep-generations', '1', '--grace', '0'], { config: cfg }),
        ...refs.map((ref) => lab.cli(['env', 'pull', ref, '--json'], { config: cfg })),
      ]);
      for (const p of more) expect(p.exitCode, p.stderr).toBe(0);
      assertRenderedEnvsComplete(stateDir);
    }
  }, 120_000);
});

describe('activation pipeline hooks', () => {
  it('an activation holds the gc lock shared and leaves a usage record; a dry run does neither', async () => {
    const stateDir = join(lab.work, 'pipe-state');
    const cfgPath = lab.writeConfig('pipe', { stateDir });
    const config = parseConfig(readFileSync(cfgPath, 'utf8'), cfgPath);
    const dir = join(lab.work, 'b-pipe');
    mkdirSync(join(dir, 'rootfs'), { recursive: true });
    cpSync(join(REPO, 'test/fixtures/specs/containerd-1.6-plain.json'), join(dir, 'config.json'));
    const spec = loadSpecFile(join(dir, 'config.json'));
    spec.annotations = { ...spec.annotations, 'flox.dev/environment': 'public-owner/hello' };
    const d = decide(spec.annotations);
    if (d.action !== 'activate') throw new Error('expected activate');
    const input = { request: d.request, spec, bundle: dir, config, log: silentLogger };

    const dry = await activateContainer({ ...input, dryRun: { offline: false } });
    expect(dry.summary.dryRun).toMatchObject({ rendered: false });
    expect(listUsage(stateDir)).toEqual([]);
    expect(storeNames(stateDir)).toEqual([]);

    const gc = await lockGc(stateDir, 'exclusive');
    let done = false;
    const run = activateContainer(input).then((r) => ((done = true), r));
    await new Promise((r) => setTimeout(r, 700));
    expect(done).toBe(false); // waits for gc
    gc.release();
    const res = await run;
    const usage = listUsage(stateDir);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ environment: 'public-owner/hello', generation: 1, mode: 'run', count: 1 });
    expect(usage[0]!.closure.sort()).toEqual(expect.arrayContaining([lab.hub.nix.packages.hello!.out!]));
    expect(res.summary.paths).toBe(usage[0]!.closure.length);
    expect(readdirSync(join(stateDir, 'envs'))).toContain(usage[0]!.key);
  });
});

const noRunc = requireSystem({ root: true, commands: ['runc', 'busybox'] });
describe.skipIf(noRunc)('with a real runc container created through bin/flox-runtime', () => {
  it('explain <id> shows its record, activated line and mounts; gc keeps its environment with keep 0 and no grace', async () => {
    const stateDir = join(lab.work, 'runc-state');
    const cfg = lab.writeConfig('runc', { stateDir });
    const root = join(lab.work, 'real-runc-root');
    const id = `flox-ops-${process.pid}`;
    const b = makeBundle(join(lab.work, 'real-bundle'), { args: ['/bin/sleep', '60'], annotations: { 'flox.dev/environment': 'public-owner/hello', 'io.kubernetes.cri.container-name': 'main', 'io.kubernetes.cri.container-type': 'container' } });
    const run = async (argv: string[]) => {
      // files, not pipes: the created container inherits our stdio; async: the hub runs in this process
      const out = join(lab.work, `o-${Math.random()}`);
      const fd = openSync(out, 'w');
      const child = spawn(FRONTEND, argv, { stdio: ['ignore', fd, fd], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', FLOX_RUNTIME_CONFIG: cfg } });
      const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      closeSync(fd);
      return { status, out: readFileSync(out, 'utf8') };
    };
    try {
      const created = await run(['--root', root, 'create', '--bundle', b, id]);
      expect(created.out).not.toContain('flox:');
      expect(created.status).toBe(0);
      const x = JSON.parse((await lab.cli(['explain', id, '--root', root, '--json'], { config: cfg })).stdout) as Record<string, any>;
      expect(x).toMatchObject({ bundle: b, record: { environment: 'public-owner/hello', generation: 1 }, activated: { msg: 'activated', id, generation: 1 } });
      expect(x.spec.mounts.map((m: any) => m.destination)).toEqual(expect.arrayContaining(['/nix/store', '/run/flox/env']));
      // another generation on the node that nothing uses
      expect((await lab.cli(['env', 'pull', 'public-owner/multi:2'], { config: cfg })).exitCode).toBe(0);
      const gc = JSON.parse((await lab.cli(['gc', '--root', root, '--keep-generations', '0', '--grace', '0', '--json'], { config: cfg })).stdout) as Record<string, any>;
      expect(gc.keepEnvs.map((e: any) => [e.environment, e.reason])).toEqual([['public-owner/hello', 'in-use']]);
      expect(gc.removeEnvs.map((e: any) => e.environment)).toEqual(['public-owner/multi']);
      expect(storeNames(stateDir)).toContain(lab.hub.nix.packages.hello!.out!.slice('/nix/store/'.length));
      expect(assertRenderedEnvsComplete(stateDir)).toBe(1);
    } finally {
      spawnSync('runc', ['--root', root, 'delete', '--force', id]);
    }
  });
});
