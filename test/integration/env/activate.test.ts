// The activation plan and scripts, run for real: a private mount namespace gives a throwaway root
// with the rendered tree at /run/flox/env and the fixture store at /nix/store, as a container
// would have them. Scripts run under busybox sh (the environment's, no image tools at all) and
// under bash (the host's /usr bound in).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ActivationPlan, planActivation, renderEnvironment } from '../../../src/env/index.js';
import { resolveEnvironment } from '../../../src/floxhub/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { BUSYBOX, canSandbox, runInSandbox } from '../../support/floxhub-sandbox.js';
import { startTestHub, type TestHub } from '../../support/hub.js';

let hub: TestHub;
let state: string;
const SYSTEM = 'x86_64-linux';
const BASE = ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/root', 'TERM=xterm'];

beforeAll(async () => {
  hub = await startTestHub();
  state = mkdtempSync(join(tmpdir(), 'env-activate-'));
});
afterAll(async () => {
  await hub?.close();
  rmSync(state, { recursive: true, force: true });
});

async function prepare(name: string, mode: 'run' | 'dev') {
  const resolved = await resolveEnvironment({ owner: 'public-owner', name }, { gitUrl: hub.gitUrl, stateDir: state, timeoutMs: 5000, log: silentLogger });
  const { hostDir } = await renderEnvironment({ resolved, mode, system: SYSTEM, stateDir: state, storeDir: hub.storeDir, log: silentLogger });
  const plan = planActivation({ resolved, mode, baseEnv: BASE, cwd: '/work', hostDir });
  return { resolved, hostDir, plan };
}

/** Parses `env` output (one NAME=value per line; values here have no newlines). */
function parseEnv(out: string): Record<string, string> {
  return Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

const sandbox = canSandbox() ? describe : describe.skip;

describe('activation plan', () => {
  it('run mode: Flox variables, PATH and MANPATH fixes, run-mode profile variables', async () => {
    const { plan } = await prepare('full', 'run');
    expect(plan.env).toMatchObject({
      FLOX_ENV: '/run/flox/env',
      FLOX_ENV_CACHE: '/run/flox/cache',
      FLOX_ENV_PROJECT: '/work',
      FLOX_ENV_DESCRIPTION: 'public-owner/full',
      FLOX_ENV_DIRS: '/run/flox/env',
      PATH: '/run/flox/env/bin:/usr/local/bin:/usr/bin:/bin',
      MANPATH: '/run/flox/env/share/man:',
      INFOPATH: '/run/flox/env/share/info:',
      XDG_DATA_DIRS: '/run/flox/env/share',
      HOME: '/root',
    });
    expect(plan.env.CPATH).toBeUndefined();
    // a hook: the process starts with the environment's sh running activate.d/activate
    expect(plan.needsShell).toBe(true);
    expect(plan.shellReasons).toEqual(['hook.on-activate']);
    expect(plan.wrapArgs).toEqual(['/run/flox/env/bin/sh', '/run/flox/env/activate.d/activate']);
    expect(plan.execWrapArgs).toEqual(['/run/flox/env/bin/sh', '/run/flox/env/activate.d/attach']);
    expect(plan.warnings.join()).toMatch(/needs bash/);
    // vars are left to the script
    expect(plan.env.GREETING).toBeUndefined();
  });

  it('dev mode adds the build variables', async () => {
    const { plan } = await prepare('gitlab', 'dev');
    expect(plan.env).toMatchObject({
      CPATH: '/run/flox/env/include',
      LIBRARY_PATH: '/run/flox/env/lib',
      PKG_CONFIG_PATH: '/run/flox/env/lib/pkgconfig:/run/flox/env/share/pkgconfig',
      ACLOCAL_PATH: '/run/flox/env/share/aclocal',
      CI_TOOLCHAIN: 'flox',
    });
    expect(plan.needsShell).toBe(false);
  });

  it('no hook and plain vars: everything static, no shell at all', async () => {
    const { plan } = await prepare('static', 'run');
    expect(plan).toMatchObject({ needsShell: false, wrapArgs: [], execWrapArgs: [], shellReasons: [] });
    expect(plan.env.MODE_NAME).toBe('static');
  });
});

sandbox('activation scripts inside a container-like root', () => {
  const shells = [
    { name: 'busybox sh, no image tools', hostTools: false, sh: '/run/flox/env/bin/sh' },
    { name: 'bash', hostTools: true, sh: '/bin/bash' },
  ];
  for (const s of shells) {
    it(`${s.name}: vars, hook, exec of the command`, async () => {
      const { plan } = await prepare('full', 'run');
      const r = await runInSandbox({
        envDir: (await prepare('full', 'run')).hostDir,
        storeDir: hub.storeDir,
        hostTools: s.hostTools,
        env: plan.env,
        argv: [s.sh, plan.activateScript, 'sh', '-c', 'echo "pid=$$"; env; hello'],
      });
      expect(r.code, r.stderr).toBe(0);
      const env = parseEnv(r.stdout);
      expect(env.GREETING).toBe('hi');
      expect(env.FULL_GREETING).toBe('hi from public-owner/full');
      expect(env.PLAIN).toBe("plain value with 'quotes' and "); // $dollar expands, as in Flox's envrc
      expect(env.FLOX_ENV).toBe('/run/flox/env');
      expect(r.stdout).toContain('Hello, world!');
      // exec all the way: the command runs in the very process that was started
      expect(env.pid).toBe(String(r.pid));
      if (s.hostTools) {
        // bash found: the hook ran, saw the vars and the environment's PATH, and its stdout went to stderr
        expect(env.HOOK_RAN).toBe('yes:hi');
        expect(env.HOOK_PATH_HEAD).toBe('/run/flox/env/bin');
        expect(r.stderr).toContain('hook stdout goes to stderr');
        expect(r.stdout).not.toContain('hook stdout');
      } else {
        expect(env.HOOK_RAN).toBeUndefined();
        expect(r.stderr).toMatch(/hook.on-activate of public-owner\/full not run: no bash/);
      }
    });
  }

  it('signals reach the command (no shell left in between)', async () => {
    const { plan, hostDir } = await prepare('full', 'run');
    let pid = 0;
    const r = await runInSandbox({
      envDir: hostDir,
      storeDir: hub.storeDir,
      hostTools: true,
      env: plan.env,
      argv: [...plan.wrapArgs, 'sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done'],
      onSpawn: (p, out) => {
        pid = p;
        out.on('data', (d: Buffer) => {
          if (String(d).includes('ready')) process.kill(pid, 'SIGTERM');
        });
      },
    });
    expect(r.stdout).toContain('got-term');
    expect(r.code).toBe(7);
  });

  it('activate records the environment after the hook; attach replays it for exec', async () => {
    const { plan, hostDir } = await prepare('full', 'run');
    const stateDir = mkdtempSync(join(tmpdir(), 'flox-state-'));
    try {
      const main = await runInSandbox({ envDir: hostDir, storeDir: hub.storeDir, hostTools: true, stateDir, env: plan.env, argv: [...plan.wrapArgs, 'true'] });
      expect(main.code, main.stderr).toBe(0);
      expect(readFileSync(join(stateDir, 'activated.env'), 'utf8')).toMatch(/^export HOOK_RAN="yes:hi"$/m);
      // kubectl exec: a fresh process with the plan's env, through attach; the hook does not run again
      const exec = await runInSandbox({ envDir: hostDir, storeDir: hub.storeDir, hostTools: false, stateDir, env: plan.env, argv: [...plan.execWrapArgs, 'env'] });
      expect(exec.code, exec.stderr).toBe(0);
      const env = parseEnv(exec.stdout);
      expect(env).toMatchObject({ HOOK_RAN: 'yes:hi', GREETING: 'hi', FULL_GREETING: 'hi from public-owner/full' });
      expect(exec.stderr).not.toContain('hook stdout');
      // no recorded state (tmpfs missing or read-only): attach activates again, without the hook
      const fresh = await runInSandbox({ envDir: hostDir, storeDir: hub.storeDir, hostTools: false, env: plan.env, argv: [...plan.execWrapArgs, 'env'] });
      expect(parseEnv(fresh.stdout)).toMatchObject({ GREETING: 'hi' });
      expect(parseEnv(fresh.stdout).HOOK_RAN).toBeUndefined();
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('without bash the activation still records its environment (busybox export -p) for attach', async () => {
    const { plan, hostDir } = await prepare('full', 'run');
    const stateDir = mkdtempSync(join(tmpdir(), 'flox-state-'));
    try {
      const main = await runInSandbox({ envDir: hostDir, storeDir: hub.storeDir, hostTools: false, stateDir, env: plan.env, argv: [...plan.wrapArgs, 'true'] });
      expect(main.code, main.stderr).toBe(0);
      expect(readFileSync(join(stateDir, 'activated.env'), 'utf8')).toMatch(/^export PLAIN='plain value with '"'"'quotes'"'"' and '$/m);
      const exec = await runInSandbox({ envDir: hostDir, storeDir: hub.storeDir, hostTools: false, stateDir, env: plan.env, argv: [...plan.execWrapArgs, 'env'] });
      expect(parseEnv(exec.stdout)).toMatchObject({ PLAIN: "plain value with 'quotes' and ", FULL_GREETING: 'hi from public-owner/full' });
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('a static plan equals what the activation script computes', async () => {
    const { plan, hostDir } = await prepare('static', 'run');
    const withoutVars = Object.fromEntries(Object.entries(plan.env).filter(([k]) => k !== 'MODE_NAME'));
    const viaShell = await runInSandbox({ envDir: hostDir, storeDir: hub.storeDir, hostTools: false, env: withoutVars, argv: [BUSYBOX, 'sh', plan.activateScript, BUSYBOX, 'env'] });
    const direct = await runInSandbox({ envDir: hostDir, storeDir: hub.storeDir, hostTools: false, env: plan.env, argv: [BUSYBOX, 'env'] });
    expect(viaShell.code, viaShell.stderr).toBe(0);
    const drop = (e: Record<string, string>) => Object.fromEntries(Object.entries(e).filter(([k]) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(k)));
    expect(drop(parseEnv(viaShell.stdout))).toEqual(drop(parseEnv(direct.stdout)));
    expect(parseEnv(direct.stdout).MODE_NAME).toBe('static');
    // and the static command runs directly
    const run = await runInSandbox({ envDir: hostDir, storeDir: hub.storeDir, hostTools: false, env: plan.env, argv: ['pyish'] });
    expect(run.stdout).toMatch(/^pyish \/nix\/store\//);
  });

  it('dev mode inside: the profile has headers and pkg-config files where the variables say', async () => {
    const { plan, hostDir } = await prepare('gitlab', 'dev');
    const r = await runInSandbox({ envDir: hostDir, storeDir: hub.storeDir, hostTools: false, env: plan.env, argv: ['sh', '-c', 'ls "$CPATH"; ls "${PKG_CONFIG_PATH%%:*}"; echo "$CI_TOOLCHAIN"'] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['greet.h', 'greet.pc', 'flox']));
  });
});

// keep the type import used for readers of this file
export type { ActivationPlan };
