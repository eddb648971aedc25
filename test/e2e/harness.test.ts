// Proves the e2e harness itself: a private containerd driven over CRI like kubelet, with the
// plain runc handler and with stand-in `flox` handlers (shell scripts that hand over to runc).
// Needs root, containerd, runc, gcc, busybox-static; otherwise skipped (failed when CI=true).
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from './support/containerd.js';
import { KUBELET_MASKED_PATHS, KUBELET_READONLY_PATHS, parseCriLog, type Container } from './support/cri.js';
import { e2eGate } from './support/gate.js';
import { BUSYBOX_IMAGE, EMPTY_IMAGE } from './support/images.js';
import { failingCreateScript, passThroughScript, recordingScript } from './support/runtimes.js';

describe('CRI log parsing', () => {
  it('joins partial lines and keeps streams apart', () => {
    const log = [
      '2026-11-28T00:41:58.815434436Z stdout P hel',
      '2026-11-28T00:41:58.815500000Z stderr F oops',
      '2026-11-28T00:41:58.815600000Z stdout F lo',
      '2026-11-28T00:41:59Z stdout F ',
    ].join('\n');
    const lines = parseCriLog(log);
    expect(lines.map((l) => [l.stream, l.line])).toEqual([
      ['stderr', 'oops'],
      ['stdout', 'hello'],
      ['stdout', ''],
    ]);
    expect(lines[1]?.time).toBe('2026-11-28T00:41:58.815434436Z');
    expect(lines[1]?.timeMs).toBeCloseTo(Date.UTC(2026, 10, 28, 0, 41, 58) + 815.434436, 3);
  });
});

const gate = e2eGate('e2e harness (private containerd over CRI)');

describe.skipIf(gate.skip)(gate.title, () => {
  let lab: Lab;
  let secretDir: string;
  const configPath = '/etc/flox-runtime/e2e-does-not-exist.toml';

  beforeAll(async () => {
    secretDir = mkdtempSync(join(tmpdir(), 'flox-e2e-secret-'));
    writeFileSync(join(secretDir, 'floxhub-token'), 'tok-123\n');
    lab = await startLab({
      floxBinary: { script: passThroughScript() },
      handlers: {
        floxfail: { script: failingCreateScript('flox: test failure') },
        floxrec: { script: recordingScript() },
      },
      env: { FLOX_RUNTIME_CONFIG: configPath },
    });
  });

  afterAll(async () => {
    rmSync(secretDir, { recursive: true, force: true });
    if (!lab) return;
    const report = await lab.stop();
    expect(report.problems).toEqual([]);
    expect(existsSync(lab.dir)).toBe(false);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(lab.dir);
    const shims = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8');
        } catch {
          return '';
        }
      })
      .filter((c) => c.includes(lab.socket));
    expect(shims).toEqual([]);
  });

  async function echoAndExec(handler: string): Promise<void> {
    const k = lab.kubelet;
    await k.withPod({ name: `echo-${handler}`, handler }, async (pod) => {
      const c = await k.run(pod, { name: 'main', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo hello from $0; sleep 60', handler] });
      const line = await k.waitForLog(c, (l) => l.line.startsWith('hello'));
      expect(line).toMatchObject({ stream: 'stdout', line: `hello from ${handler}` });
      const ex = await k.execSync(c, ['sh', '-c', 'echo exec-ok; echo err >&2; exit 3']);
      expect(ex).toEqual({ stdout: 'exec-ok\n', stderr: 'err\n', exitCode: 3 });
      expect((await k.containerStatus(c)).state).toBe('CONTAINER_RUNNING');
    });
  }

  it('runs a busybox pod with plain runc: log line and ExecSync', () => echoAndExec('runc'));

  it('runs the same pod through a pass-through flox handler', () => echoAndExec('flox'));

  it('reports the handler config back (BinaryName, Root inside the lab)', async () => {
    await lab.kubelet.withPod({ name: 'status', handler: 'flox' }, async (pod) => {
      const s = await lab.cri.podSandboxStatus(pod.id, true);
      expect(s.status.runtime_handler).toBe('flox');
      const info = JSON.parse(s.info.info ?? '{}') as { runtimeOptions?: { binary_name?: string; root?: string } };
      expect(info.runtimeOptions).toEqual({ binary_name: lab.handlers.flox, root: lab.runcRoot });
    });
  });

  it('streams CRI Exec (stdin in, stdout/stderr/exit code out) and Attach (stdin of PID 1, which stays open between attaches: stdin=true, stdin_once=false)', async () => {
    const k = lab.kubelet;
    await k.withPod({ name: 'stream', handler: 'runc' }, async (pod) => {
      // PID 1 is a shell reading commands from its stdin, as GitLab Runner's build container
      const c = await k.run(pod, { name: 'sh', image: BUSYBOX_IMAGE, command: ['sh'], stdin: true });
      const direct = await k.exec(c, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
      expect(direct).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
      const fed = await k.exec(c, ['sh'], { input: 'echo "read $((6 * 7)) from stdin"; exit 0\n' });
      expect(fed).toEqual({ stdout: 'read 42 from stdin\n', stderr: '', exitCode: 0 });
      await k.attachWrite(c, 'echo first > /tmp/attached\n');
      await k.attachWrite(c, 'echo second >> /tmp/attached\n');
      expect((await k.exec(c, ['cat', '/tmp/attached'])).stdout).toBe('first\nsecond\n');
      expect((await k.containerStatus(c)).state).toBe('CONTAINER_RUNNING');
    });
  });

  it('waits for exit and reads the whole log of a short-lived container', async () => {
    await lab.kubelet.withPod({ name: 'short', handler: 'runc' }, async (pod) => {
      const c = await lab.kubelet.run(pod, {
        name: 'job',
        image: BUSYBOX_IMAGE,
        command: ['sh', '-c'],
        args: ['echo "cwd=$(pwd) greeting=$GREETING"; echo to-stderr >&2; exit 7'],
        env: { GREETING: 'hi there' },
        workingDir: '/tmp',
      });
      const st = await lab.kubelet.waitForExit(c);
      expect(st.exit_code).toBe(7);
      const log = lab.kubelet.readLog(c).map((l) => `${l.stream}: ${l.line}`);
      expect(log.sort()).toEqual(['stderr: to-stderr', 'stdout: cwd=/tmp greeting=hi there']);
    });
  });

  it('passes flox.dev/* pod annotations, a host secret mount and the lab env to the wrapper', async () => {
    const k = lab.kubelet;
    let c: Container | undefined;
    await k.withPod(
      { name: 'rec', handler: 'floxrec', annotations: { 'flox.dev/environment': 'owner/env', 'other.io/x': 'y' } },
      async (pod) => {
        c = await k.run(pod, {
          name: 'app',
          image: BUSYBOX_IMAGE,
          command: ['sh', '-c', 'cat /var/run/secrets/flox.dev/floxhub-token; sleep 60'],
          mounts: [{ hostPath: secretDir, containerPath: '/var/run/secrets/flox.dev', readonly: true }],
        });
        expect((await k.waitForLog(c)).line).toBe('tok-123');
        const ro = await k.execSync(c, ['sh', '-c', 'touch /var/run/secrets/flox.dev/x']);
        expect(ro.exitCode).not.toBe(0);
        expect(ro.stderr).toMatch(/Read-only file system/);
      },
    );
    const records = join(lab.dir, 'records');
    const spec = JSON.parse(readFileSync(join(records, `${c?.id}.json`), 'utf8')) as {
      annotations: Record<string, string>;
      mounts: { destination: string; source: string; options: string[] }[];
      linux: { maskedPaths: string[]; readonlyPaths: string[] };
    };
    // kubelet's default masked/readonly paths arrive (cri.proto fields 13/14)
    expect(spec.linux.maskedPaths).toEqual(KUBELET_MASKED_PATHS);
    expect(spec.linux.readonlyPaths).toEqual(KUBELET_READONLY_PATHS);
    expect(spec.annotations).toMatchObject({
      'flox.dev/environment': 'owner/env',
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.container-name': 'app',
    });
    expect(spec.annotations['other.io/x']).toBeUndefined();
    const secret = spec.mounts.find((m) => m.destination === '/var/run/secrets/flox.dev');
    expect(secret?.source).toBe(secretDir);
    expect(secret?.options).toContain('ro');
    const env = readFileSync(join(records, `${c?.id}.env`), 'utf8');
    expect(env).toContain(`FLOX_RUNTIME_CONFIG=${configPath}\n`);
    expect(env).not.toContain('NODE_EXTRA_CA_CERTS'); // clean env like systemd's (cri.md P7)
    // no fds leaked from the test process through containerd and the shim (cri.md P6): the
    // app container's create sees /dev/null and its two output pipes, nothing else
    const fds = readFileSync(join(records, `${c?.id}.fds`), 'utf8').trim().split('\n');
    expect(fds.map((l) => l.replace(/pipe:\[\d+\]/, 'pipe')).sort()).toEqual(['0=/dev/null', '1=pipe', '2=pipe']);
  });

  it('fails StartContainer of a zero-layer flox/empty container with runc\'s error', async () => {
    const k = lab.kubelet;
    await k.withPod({ name: 'empty', handler: 'flox', annotations: { 'flox.dev/environment': 'owner/env' } }, async (pod) => {
      const c = await k.createContainer(pod, { name: 'app', image: EMPTY_IMAGE, command: ['/bin/sh', '-c', 'echo never'] });
      const err = await k.startContainer(c).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toMatch(/OCI runtime create failed: .*exec: "\/bin\/sh": stat \/bin\/sh: no such file or directory/);
      const st = await k.containerStatus(c);
      expect(st).toMatchObject({ state: 'CONTAINER_EXITED', reason: 'StartError', exit_code: 128 });
    });
  });

  it('carries the wrapper\'s --log error msg into the StartContainer error', async () => {
    const k = lab.kubelet;
    await k.withPod({ name: 'fail', handler: 'floxfail', annotations: { 'flox.dev/environment': 'owner/env' } }, async (pod) => {
      const c = await k.createContainer(pod, { name: 'app', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo never'] });
      await expect(k.startContainer(c)).rejects.toThrow(
        /failed to create containerd task: failed to create shim task: OCI runtime create failed: flox: test failure: unknown/,
      );
      const st = await k.containerStatus(c);
      expect(st.message).toContain('flox: test failure');
      expect(k.readLog(c)).toEqual([]);
    });
  });

  it('runs a second lab side by side without interference', async () => {
    const other = await startLab({ floxBinary: { script: passThroughScript() } });
    try {
      expect(other.dir).not.toBe(lab.dir);
      const both = [lab, other].map((l) =>
        l.kubelet.withPod({ name: 'twin', handler: 'flox' }, async (pod) => {
          const c = await l.kubelet.run(pod, { name: 'c', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo twin-ok; sleep 60'] });
          return (await l.kubelet.waitForLog(c)).line;
        }),
      );
      expect(await Promise.all(both)).toEqual(['twin-ok', 'twin-ok']);
      expect(await other.cri.listPodSandbox()).toEqual([]);
    } finally {
      expect((await other.stop()).problems).toEqual([]);
    }
    expect(await lab.cri.listPodSandbox()).toEqual([]);
  });
});
