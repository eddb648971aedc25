// Imageless pods end to end: kubelet-style CRI calls into a private containerd whose `flox`
// handler is bin/flox-runtime, against a local FloxHub and a real signed Nix binary cache.
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Container, Pod } from './support/cri.js';
import { CriError } from './support/cri.js';
import { startFloxLab, type FloxLab } from './support/flox-lab.js';
import { e2eGate } from './support/gate.js';
import { BUSYBOX_IMAGE, EMPTY_IMAGE } from './support/images.js';

const gate = e2eGate('imageless pods over CRI');
const ENV = 'flox.dev/environment';

describe.skipIf(gate.skip)(gate.title, () => {
  let f: FloxLab;
  const k = () => f.lab.kubelet;
  let n = 0;
  const podName = (p: string) => `${p}-${++n}`;

  /** Runs one container to completion and returns its stdout lines. */
  async function runToEnd(annotations: Record<string, string>, opts: { image?: string; command: string[]; env?: Record<string, string>; mounts?: Array<{ hostPath: string; containerPath: string; readonly?: boolean }>; name?: string; runAsUser?: number }) {
    return k().withPod({ name: podName(opts.name ?? 'job'), handler: 'flox', annotations }, async (pod) => {
      const c = await k().run(pod, { name: opts.name ?? 'app', image: opts.image ?? EMPTY_IMAGE, command: opts.command, ...(opts.env && { env: opts.env }), ...(opts.mounts && { mounts: opts.mounts }), ...(opts.runAsUser !== undefined && { runAsUser: opts.runAsUser }) });
      const status = await k().waitForExit(c);
      return { lines: k().readLog(c).map((l) => l.line), exitCode: status.exit_code, container: c };
    });
  }

  async function startError(annotations: Record<string, string>, command = ['hello']): Promise<string> {
    return k().withPod({ name: podName('bad'), handler: 'flox', annotations }, async (pod) => {
      try {
        await k().run(pod, { name: 'app', image: EMPTY_IMAGE, command });
      } catch (e) {
        if (e instanceof CriError) return e.details;
        throw e;
      }
      throw new Error('StartContainer succeeded unexpectedly');
    });
  }

  beforeAll(async () => {
    f = await startFloxLab();
  }, 240_000);
  afterAll(async () => {
    if (f) expect(await f.stop()).toEqual([]);
  });

  it('a flox/empty pod runs a command that only the environment provides', async () => {
    const r = await runToEnd({ [ENV]: 'public-owner/hello' }, { command: ['hello'] });
    expect(r.lines).toEqual(['Hello, world!']);
    expect(r.exitCode).toBe(0);
    const a = f.activations().at(-1)!;
    expect(a).toMatchObject({ environment: 'public-owner/hello', generation: 1, mode: 'run', shell: false });
    expect(a.phasesMs).toHaveProperty('realise');
  });

  it('the live generation follows a push; the next pod fetches only the new store paths', async () => {
    const before = await runToEnd({ [ENV]: 'public-owner/multi' }, { command: ['hello'] });
    expect(before.lines).toEqual(['Hello, world! (2.12.2)']); // live generation 2 (after a switch)
    const beforeRun = await runToEnd({ [ENV]: 'public-owner/hello' }, { command: ['hello'] });
    expect(beforeRun.lines).toEqual(['Hello, world!']);
    const pushed = f.hub.fixtures.pushPackages({ outDir: f.hub.outDir, owner: 'public-owner', name: 'hello', paths: f.hub.nix, roles: ['hello2', 'greet'] });
    expect(pushed.generation).toBe(2);
    const after = await runToEnd({ [ENV]: 'public-owner/hello' }, { command: ['sh', '-c', 'hello; greet'] });
    expect(after.lines).toEqual(['Hello, world! (2.12.2)', 'Hello, world!', 'greetings from greet-1.0']);
    const a = f.activations().at(-1)!;
    expect(a.generation).toBe(2);
    // hello2 was realised by the multi pod; only greet (and hello, its reference) may be new
    expect(a.pathsFetched).toBeLessThanOrEqual(2);
    expect(a.cacheHits).toBeGreaterThanOrEqual(2);
  });

  it('a pinned generation ignores the live one', async () => {
    const r = await runToEnd({ [ENV]: 'public-owner/multi:1' }, { command: ['hello'] });
    expect(r.lines).toEqual(['Hello, world!']);
    expect(f.activations().at(-1)).toMatchObject({ generation: 1 });
  });

  it('a private environment needs its token secret', async () => {
    const err = await startError({ [ENV]: 'private-owner/secret' });
    expect(err).toMatch(/OCI runtime create failed: flox: .*private-owner\/secret/);
    expect(err).not.toMatch(/unable to retrieve OCI runtime error/);
    const secret = mkdtempSync(join(tmpdir(), 'secret-'));
    writeFileSync(join(secret, 'floxhub-token'), `${f.hub.token}\n`);
    const ok = await runToEnd({ [ENV]: 'private-owner/secret' }, { command: ['hello'], mounts: [{ hostPath: secret, containerPath: '/var/run/secrets/flox.dev', readonly: true }] });
    expect(ok.lines).toEqual(['Hello, world!']);
    expect(f.activations().at(-1)).toMatchObject({ auth: 'pod' });
    expect(JSON.stringify(f.logLines())).not.toContain(f.hub.token);
  });

  it('invalid annotations and a missing environment fail StartContainer with the flox: message', async () => {
    expect(await startError({ [ENV]: 'public-owner/hello', 'flox.dev/activate-mode': 'fast' })).toMatch(
      /OCI runtime create failed: flox: invalid flox\.dev\/activate-mode "fast": expected "run" or "dev": unknown$/,
    );
    expect(await startError({ [ENV]: 'public-owner/../x' })).toMatch(/flox: invalid flox\.dev\/environment/);
    const missing = await startError({ [ENV]: 'public-owner/nope' });
    expect(missing).toMatch(/OCI runtime create failed: flox: .*public-owner\/nope.*not found/);
    expect(missing).not.toMatch(/unable to retrieve OCI runtime error/);
  });

  it('a pod with no flox annotation under the flox handler runs exactly as with runc', async () => {
    const r = await runToEnd({}, { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo "${FLOX_ENV:-none} $PATH"; ls /nix 2>&1 | head -1'] });
    expect(r.lines[0]).toBe('none /bin');
    expect(r.lines[1]).toMatch(/No such file/);
  });

  async function withRunning<T>(annotations: Record<string, string>, name: string, fn: (c: Container, pod: Pod) => Promise<T>, image = EMPTY_IMAGE) {
    return k().withPod({ name: podName(name), handler: 'flox', annotations }, async (pod) => {
      const c = await k().run(pod, { name, image, command: ['sh', '-c', 'echo ready; exec sleep 300'] });
      await k().waitForLog(c, (l) => l.line === 'ready');
      return fn(c, pod);
    });
  }

  it('exec joins the environment; skip-containers-exec leaves it out', async () => {
    await withRunning({ [ENV]: 'public-owner/full' }, 'app', async (c) => {
      // [vars] with references need the activation shell; exec replays what it produced
      const r = await k().execSync(c, ['sh', '-c', 'echo "$FLOX_ENV|$FULL_GREETING|$PLAIN"; hello']);
      expect(r).toMatchObject({ exitCode: 0 });
      // Flox writes [vars] as export NAME="value": $dollar expands (to nothing) as in Flox
      expect(r.stdout).toBe("/run/flox/env|hi from public-owner/full|plain value with 'quotes' and \nHello, world!\n");
    });
    await withRunning({ [ENV]: 'public-owner/full', 'flox.dev/skip-containers-exec': 'app' }, 'app', async (c) => {
      const r = await k().execSync(c, ['sh', '-c', 'echo "${FLOX_ENV:-none}"; command -v hello || echo no-hello']);
      expect(r.stdout).toBe('none\nno-hello\n');
    });
  });

  it('run vs dev mode', async () => {
    const cmd = ['sh', '-c', 'echo "cpath=${CPATH:-unset} pc=${PKG_CONFIG_PATH:-unset}"; ls /run/flox/env/include'];
    const run = await runToEnd({ [ENV]: 'public-owner/gitlab' }, { command: cmd });
    expect(run.lines[0]).toBe('cpath=unset pc=unset');
    const dev = await runToEnd({ [ENV]: 'public-owner/gitlab', 'flox.dev/activate-mode': 'dev' }, { command: cmd });
    expect(dev.lines[0]).toBe('cpath=/run/flox/env/include pc=/run/flox/env/lib/pkgconfig:/run/flox/env/share/pkgconfig');
    expect(dev.lines).toContain('greet.h');
  });

  it('a container running as a non-root uid activates from the rendered env ([vars] included), though the node keeps envs/ unlistable', async () => {
    const r = await runToEnd({ [ENV]: 'public-owner/gitlab' }, { command: ['sh', '-c', 'echo "uid=$(id -u) vars=$CI_TOOLCHAIN"; hello'], runAsUser: 65534 });
    expect(r.exitCode).toBe(0);
    expect(r.lines).toEqual(['uid=65534 vars=flox', 'Hello, world!']);
    expect(statSync(join(f.stateDir, 'envs')).mode & 0o7777).toBe(0o711);
  });

  it('the node store is read-only; nix-mutable gives a writable overlay that never reaches the node store', async () => {
    const ro = await runToEnd({ [ENV]: 'public-owner/hello' }, { command: ['sh', '-c', 'touch /nix/store/x 2>/dev/null && echo wrote || echo read-only'] });
    expect(ro.lines).toEqual(['read-only']);
    const rw = await runToEnd({ [ENV]: 'public-owner/hello', 'flox.dev/nix-mutable': 'true' }, { command: ['sh', '-c', 'touch /nix/store/x && echo wrote; hello'] });
    expect(rw.lines).toEqual(['wrote', 'Hello, world! (2.12.2)']); // hello's live generation is 2 by now
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(f.stateDir, 'store/x'))).toBe(false);
  });

  it('FloxHub down: a cached environment still starts, with a warning in the log', async () => {
    f.hub.setDown('503');
    try {
      const r = await runToEnd({ [ENV]: 'public-owner/static' }, { command: ['hello'] }).catch((e) => e as Error);
      // never fetched before: no cache to fall back on
      expect(String((r as Error).message ?? r)).toMatch(/flox: .*public-owner\/static/);
      const cached = await runToEnd({ [ENV]: 'public-owner/gitlab' }, { command: ['hello'] });
      expect(cached.lines).toEqual(['Hello, world!']);
      expect(f.activations().at(-1)).toHaveProperty('stale');
    } finally {
      f.hub.setDown('');
    }
  });

  it('8 pods of one cold environment start at once; each store path is fetched once', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => runToEnd({ [ENV]: 'public-owner/priority' }, { command: ['tool'], name: `app${i}` })),
    );
    for (const r of results) expect(r.lines).toEqual(['tool-b']); // priority 3 beats the default 5
    const last8 = f.activations().filter((a) => a.environment === 'public-owner/priority');
    expect(last8).toHaveLength(8);
    const fetched = last8.reduce((s, a) => s + a.pathsFetched, 0);
    expect(fetched).toBe(2); // tool-a and tool-b; busybox was already on the node
  });

  it('the GitLab runner pod: helper containers untouched, the build job reaches the environment', async () => {
    const annotations = {
      [ENV]: 'public-owner/gitlab',
      'flox.dev/activate-mode': 'dev',
      'flox.dev/skip-containers': 'init-permissions,helper',
      'flox.dev/skip-containers-exec': 'build',
    };
    // GitLab's shell detection, then the job script
    const detect =
      'if [ -x /usr/local/bin/bash ]; then exec /usr/local/bin/bash -c "$JOB"; elif [ -x /usr/bin/bash ]; then exec /usr/bin/bash -c "$JOB"; ' +
      'elif [ -x /bin/bash ]; then exec /bin/bash -c "$JOB"; elif [ -x /bin/sh ]; then exec /bin/sh -c "$JOB"; else echo shell not found; exit 1; fi';
    await k().withPod({ name: podName('runner'), handler: 'flox', annotations }, async (pod) => {
      const init = await k().run(pod, { name: 'init-permissions', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo "init ${FLOX_ENV:-plain}"'] });
      expect((await k().waitForExit(init)).exit_code).toBe(0);
      expect(k().readLog(init).map((l) => l.line)).toEqual(['init plain']);
      const build = await k().run(pod, {
        name: 'build',
        image: EMPTY_IMAGE,
        command: ['sh', '-c', detect],
        env: { JOB: 'echo "job in $FLOX_ENV_DESCRIPTION ($CI_TOOLCHAIN)"; hello; pkg=${PKG_CONFIG_PATH%%:*}; ls "$pkg"; sleep 300' },
      });
      const helper = await k().run(pod, { name: 'helper', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo "helper ${FLOX_ENV:-plain}"; sleep 300'] });
      await k().waitForLog(build, (l) => l.line === 'greet.pc');
      expect(k().readLog(build).map((l) => l.line)).toEqual(['job in public-owner/gitlab (flox)', 'Hello, world!', 'greet.pc']);
      await k().waitForLog(helper);
      expect(k().readLog(helper).map((l) => l.line)).toEqual(['helper plain']);
      // skip-containers-exec: an exec into build runs outside the environment
      const ex = await k().execSync(build, ['sh', '-c', 'echo "${FLOX_ENV:-outside}"']);
      expect(ex.stdout).toBe('outside\n');
    });
  });
});
