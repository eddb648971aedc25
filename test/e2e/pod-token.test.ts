// A pod's FloxHub token over CRI, against a local FloxHub with a private environment: a pod
// that mounts a writable directory of its own at /var/run/secrets/flox.dev (a hostPath or
// emptyDir, as the kubelet passes either) may put anything there as `floxhub-token`. A link to
// another pod's secret or to the node's token file, or a FIFO, must fail StartContainer with a
// flox: message, quickly, instead of starting with a token the pod does not hold or hanging.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CriError } from './support/cri.js';
import { startFloxLab, type FloxLab } from './support/flox-lab.js';
import { e2eGate } from './support/gate.js';
import { EMPTY_IMAGE } from './support/images.js';

const gate = e2eGate('the pod token over CRI');
const ENV = 'flox.dev/environment';
const PRIVATE = { [ENV]: 'private-owner/secret' };

describe.skipIf(gate.skip)(gate.title, () => {
  let f: FloxLab;
  const k = () => f.lab.kubelet;
  let n = 0;
  let otherSecret: string; // another pod's secret volume on the node
  let nodeTokenFile: string;

  /** The pod's own writable directory, what kubelet passes for a hostPath or emptyDir volume. */
  const volume = () => mkdtempSync(join(f.work, 'vol-'));
  const mountOf = (dir: string) => [{ hostPath: dir, containerPath: '/var/run/secrets/flox.dev', readonly: false }];

  /** Starts `hello` with the volume mounted; its output, or the StartContainer error. */
  async function start(dir: string, startTimeoutMs?: number): Promise<{ lines?: string[]; error?: string; ms: number }> {
    return k().withPod({ name: `tok-${++n}`, handler: 'flox', annotations: PRIVATE }, async (pod) => {
      const c = await k().createContainer(pod, { name: 'app', image: EMPTY_IMAGE, command: ['hello'], mounts: mountOf(dir) });
      const t0 = performance.now();
      try {
        await k().startContainer(c, startTimeoutMs);
      } catch (e) {
        if (e instanceof CriError) return { error: e.details, ms: performance.now() - t0 };
        throw e;
      }
      const ms = performance.now() - t0;
      await k().waitForExit(c);
      return { lines: k().readLog(c).map((l) => l.line), ms };
    });
  }

  beforeAll(async () => {
    f = await startFloxLab();
    otherSecret = mkdtempSync(join(f.work, 'other-pod-secret-'));
    writeFileSync(join(otherSecret, 'floxhub-token'), `${f.hub.token}\n`);
    nodeTokenFile = join(f.work, 'node-token');
    writeFileSync(nodeTokenFile, `${f.hub.token}\n`);
  }, 240_000);
  afterAll(async () => {
    if (f) expect(await f.stop()).toEqual([]);
  });

  it('floxhub-token a link to another pod\'s secret: StartContainer fails naming the problem, nothing runs with the stolen token', async () => {
    const v = volume();
    symlinkSync(join(otherSecret, 'floxhub-token'), join(v, 'floxhub-token'));
    const r = await start(v);
    expect(r.lines).toBeUndefined(); // the old runtime printed "Hello, world!" here
    expect(r.error).toMatch(/OCI runtime create failed: flox: the pod's FloxHub token \(floxhub-token in the volume mounted at \/var\/run\/secrets\/flox\.dev\) is a symbolic link that leads outside its volume/);
    expect(r.error).not.toContain(otherSecret);
    expect(f.activations().filter((a) => a.environment === 'private-owner/secret')).toEqual([]);
  });

  it('floxhub-token a link to the node token file: refused, no fall-back to the node token; a pod without a token gets the node token', async () => {
    const config = readFileSync(f.configPath, 'utf8');
    writeFileSync(f.configPath, config.replace('[floxhub]\n', `[floxhub]\ntoken-file = "${nodeTokenFile}"\n`));
    try {
      const v = volume();
      symlinkSync(nodeTokenFile, join(v, 'floxhub-token'));
      const r = await start(v);
      expect(r.lines).toBeUndefined();
      expect(r.error).toMatch(/flox: the pod's FloxHub token .* leads outside its volume/);
      // the node-wide token's reach: a pod with no token at all (docs/security.md, Tokens)
      const none = await start(volume());
      expect(none.lines).toEqual(['Hello, world!']);
      expect(f.activations().at(-1)).toMatchObject({ environment: 'private-owner/secret', auth: 'config' });
    } finally {
      writeFileSync(f.configPath, config);
    }
  });

  it('floxhub-token a FIFO: StartContainer fails at once instead of hanging', async () => {
    const v = volume();
    const fifo = join(v, 'floxhub-token');
    execFileSync('mkfifo', [fifo]);
    try {
      const r = await start(v, 30_000);
      expect(r.error).toMatch(/flox: the pod's FloxHub token .* is a FIFO, not a regular file/); // the old runtime: DEADLINE_EXCEEDED
      expect(r.ms).toBeLessThan(15_000);
    } finally {
      // a runtime blocked in open(2) on the FIFO (the old code) is let go: a writer that closes at once
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        /* no reader: nothing hangs */
      }
    }
  });

  it('the pod\'s own token in the same writable directory still works', async () => {
    const v = volume();
    writeFileSync(join(v, 'floxhub-token'), `${f.hub.token}\n`);
    const r = await start(v);
    expect(r.lines).toEqual(['Hello, world!']);
    expect(f.activations().at(-1)).toMatchObject({ environment: 'private-owner/secret', auth: 'pod' });
    expect(JSON.stringify(f.logLines())).not.toContain(f.hub.token);
  });
});
