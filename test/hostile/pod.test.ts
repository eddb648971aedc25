// What a hostile pod (or a hostile environment author) can try through bin/flox-runtime create,
// at the binary level against the local hub: traversal through the environment name, a token
// with newlines and shell metacharacters, a manifest hook aimed at the host, a writable /nix
// aimed at the node store, and getting at a private environment another pod fetched.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST } from '../support/paths.js';
import { startTestHub, type TestHub } from '../support/hub.js';
import { activatedSpec, makeBundle, makeWork, runCreate, sha256, writeConfig, type Work } from '../faults/support.js';

const ENV = 'flox.dev/environment';
let hub: TestHub;
let work: Work;
let n = 0;
const marker = `/tmp/flox-hostile-${process.pid}`;

beforeAll(async () => {
  if (!existsSync(DIST)) throw new Error('dist/ missing: run `npm run build` (npm test does)');
  hub = await startTestHub();
  work = makeWork('hostile-pod');
}, 240_000);
afterAll(async () => {
  await hub?.close();
  if (work) rmSync(work.dir, { recursive: true, force: true });
  for (const s of ['', '-hook', '-profile', '-var', '-token']) rmSync(`${marker}${s}`, { force: true });
});

function setup(stateDir = join(work.dir, `state-${++n}`)) {
  const config = writeConfig(join(work.dir, `config-${++n}.toml`), {
    stateDir,
    gitUrl: hub.gitUrl,
    substituters: [`${hub.url}/cache-zstd`],
    publicKey: hub.nix.publicKey,
    logFile: join(work.dir, `runtime-${n}.log`),
    shellStorePath: hub.nix.packages.busybox!.out!, // flox/empty has no /bin/sh
  });
  return { stateDir, config, logFile: join(work.dir, `runtime-${n}.log`) };
}

/** A pod secret directory mounted as kubelet does, holding `token`. */
function secretMount(token: string) {
  const dir = join(work.dir, `secret-${++n}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'floxhub-token'), token);
  return { destination: '/var/run/secrets/flox.dev', type: 'bind', source: dir, options: ['rbind', 'ro'] };
}

const grepState = (needle: string, ...dirs: string[]) =>
  execFileSync('sh', ['-c', 'grep -r -l -F -e "$1" -- "$@" 2>/dev/null || true', 'sh', needle, ...dirs.filter(existsSync)], { encoding: 'utf8' }).trim();

describe('environment names', () => {
  it.each(['../../etc/x', 'public-owner/..', 'public-owner/../../../tmp/x', '/etc/passwd', 'a/b/c', 'public-owner/.hidden', 'public-owner/x.lock', './.', 'public-owner/a:0'])(
    '%j: an annotation error before anything touches the node',
    async (value) => {
      const { stateDir, config } = setup();
      const bundle = makeBundle(work.dir, { [ENV]: value });
      const before = sha256(join(bundle, 'config.json'));
      const r = await runCreate(work, bundle, { config });
      expect(r.status).toBe(1);
      expect(r.record).toBeUndefined();
      expect(r.logMsg).toMatch(/^flox: invalid flox\.dev\/environment/);
      expect(existsSync(stateDir)).toBe(false);
      expect(sha256(join(bundle, 'config.json'))).toBe(before);
    },
  );
});

describe('tokens', () => {
  it('a token with newlines and shell metacharacters: refused by the hub, never executed, never logged', async () => {
    const { stateDir, config, logFile } = setup();
    const token = `evil\ntoken $(touch ${marker}-token) \`touch ${marker}-token\`; touch ${marker}-token\r\nX-Injected: 1`;
    const bundle = makeBundle(work.dir, { [ENV]: 'private-owner/secret' }, { mounts: [secretMount(token)] });
    const r = await runCreate(work, bundle, { config });
    expect(r.status).toBe(1);
    expect(r.logMsg).toMatch(/^flox: FloxHub refused the token for environment private-owner\/secret/);
    expect(existsSync(`${marker}-token`)).toBe(false);
    for (const part of ['evil', 'touch', 'X-Injected']) {
      expect(r.logMsg).not.toContain(part);
      expect(readFileSync(logFile, 'utf8')).not.toContain(part);
    }
    expect(grepState('X-Injected', stateDir)).toBe('');
  });

  it('the token of a private environment is nowhere in the state dir, the log or the activated spec', async () => {
    const { stateDir, config, logFile } = setup();
    const bundle = makeBundle(work.dir, { [ENV]: 'private-owner/secret' }, { mounts: [secretMount(`${hub.token}\n`)] });
    const r = await runCreate(work, bundle, { config });
    expect(r.logMsg).toBeUndefined();
    expect(r.status).toBe(0);
    expect(grepState(hub.token, stateDir, logFile)).toBe('');
    expect(JSON.stringify(activatedSpec(bundle).process)).not.toContain(hub.token);
  });

  it('a pod with a wrong token does not get a private pinned generation that another pod with the right token cached', async () => {
    const { config } = setup();
    const good = makeBundle(work.dir, { [ENV]: 'private-owner/secret:1' }, { mounts: [secretMount(hub.token)] });
    expect((await runCreate(work, good, { config })).status).toBe(0);
    const bad = makeBundle(work.dir, { [ENV]: 'private-owner/secret:1' }, { mounts: [secretMount('not-the-token')] });
    const r = await runCreate(work, bad, { config });
    expect(r.record).toBeUndefined();
    expect(r.status).toBe(1);
    expect(r.logMsg).toMatch(/^flox: FloxHub refused the token for environment private-owner\/secret/);
    const none = makeBundle(work.dir, { [ENV]: 'private-owner/secret:1' });
    const r2 = await runCreate(work, none, { config });
    expect(r2.status).toBe(1);
    expect(r2.logMsg).toMatch(/private-owner\/secret.*(private|token)/);
  });

  it('... nor the live one while FloxHub is down', async () => {
    const { config } = setup();
    const good = makeBundle(work.dir, { [ENV]: 'private-owner/secret' }, { mounts: [secretMount(hub.token)] });
    expect((await runCreate(work, good, { config })).status).toBe(0);
    hub.setDown('503');
    try {
      const bad = makeBundle(work.dir, { [ENV]: 'private-owner/secret' }, { mounts: [secretMount('not-the-token')] });
      const r = await runCreate(work, bad, { config });
      expect(r.record).toBeUndefined();
      expect(r.status).toBe(1);
      expect(r.logMsg).toMatch(/^flox: cannot reach FloxHub for environment private-owner\/secret/);
      // the right token still gets the cached copy while the hub is down
      const again = makeBundle(work.dir, { [ENV]: 'private-owner/secret' }, { mounts: [secretMount(hub.token)] });
      expect((await runCreate(work, again, { config })).status).toBe(0);
    } finally {
      hub.setDown('');
    }
  });
});

describe('environment content', () => {
  it('hooks, profile scripts and [vars] never run on the host during create', async () => {
    const toml = `version = 1

[install]
hello.pkg-path = "hello"

[vars]
EVIL = "$(touch ${marker}-var)"

[hook]
on-activate = '''
  touch ${marker}-hook
'''

[profile]
common = '''
  touch ${marker}-profile
'''
`;
    const { makeLock, catalogEntry } = hub.fixtures;
    hub.fixtures.pushGeneration({ outDir: hub.outDir, owner: 'public-owner', name: 'hostile-hook', manifestToml: toml, lock: makeLock(toml, [catalogEntry('hello', hub.nix.packages.hello!, { system: 'x86_64-linux' })]) });
    const { config } = setup();
    const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/hostile-hook' });
    const r = await runCreate(work, bundle, { config });
    expect(r.logMsg).toBeUndefined();
    expect(r.status).toBe(0);
    for (const s of ['-hook', '-profile', '-var']) expect(existsSync(`${marker}${s}`)).toBe(false);
    // the hook is there, for the container: its process starts under the activation script
    const spec = activatedSpec(bundle);
    expect(spec.process.args.join(' ')).toContain('/run/flox/env/activate.d/activate');
    const env = spec.mounts.find((m: any) => m.destination === '/run/flox/env');
    expect(readdirSync(join(env.source, 'activate.d')).length).toBeGreaterThan(0);
  });
});

describe('the node store', () => {
  it('nix-mutable gives an overlay whose writable layer is the container\'s own, never the node store', async () => {
    const { stateDir, config } = setup();
    const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/hello', 'flox.dev/nix-mutable': 'true' });
    const r = await runCreate(work, bundle, { config });
    expect(r.status).toBe(0);
    const nix = activatedSpec(bundle).mounts.filter((m: any) => m.destination === '/nix' || m.destination.startsWith('/nix/'));
    expect(nix).toHaveLength(1);
    expect(nix[0].type).toBe('overlay');
    const opt = (k: string) => nix[0].options.find((o: string) => o.startsWith(`${k}=`))?.slice(k.length + 1);
    expect(opt('lowerdir')).toBe(join(stateDir, 'store'));
    expect(opt('upperdir')!.startsWith(`${bundle}/`)).toBe(true);
    expect(opt('workdir')!.startsWith(`${bundle}/`)).toBe(true);
  });

  it('a pod mounting the node store (or /nix) read-write itself: replaced by the read-only store mount', async () => {
    const { stateDir, config } = setup();
    const mounts = [
      { destination: '/nix', type: 'bind', source: stateDir, options: ['rbind', 'rw'] },
      { destination: '/nix/store', type: 'bind', source: join(stateDir, 'store'), options: ['rbind', 'rw'] },
      { destination: '/nix/store/x', type: 'bind', source: '/tmp', options: ['rbind', 'rw'] },
    ];
    const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/hello' }, { mounts });
    const r = await runCreate(work, bundle, { config });
    expect(r.status).toBe(0);
    const nix = activatedSpec(bundle).mounts.filter((m: any) => m.destination === '/nix' || m.destination.startsWith('/nix/'));
    expect(nix).toEqual([{ destination: '/nix/store', type: 'bind', source: join(stateDir, 'store'), options: ['bind', 'ro', 'nosuid', 'nodev'] }]);
  });
});
