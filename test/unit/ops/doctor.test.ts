// doctor's judgements, pure: the CRI handler table, clock skew, disk space, exit code, report.
import { describe, expect, it } from 'vitest';
import { doctorExitCode, fail, formatDoctor, judgeClock, judgeContainerdHandler, judgeCrioHandler, judgeDisk, pass, warn } from '../../../src/ops/doctor.js';
import { parseToml } from '../../../src/install/toml-edit.js';

const cfg = (flox: string, runc = 'SystemdCgroup = true') =>
  parseToml(
    `version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
${runc}
${flox}`,
    'test',
  );
const FLOX = `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.flox]
runtime_type = "io.containerd.runc.v2"
pod_annotations = ["flox.dev/*"]
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.flox.options]
BinaryName = "/opt/flox-runtime/bin/flox-runtime"
SystemdCgroup = true`;
const exe = (p: string) => p === '/opt/flox-runtime/bin/flox-runtime';

describe('judgeContainerdHandler', () => {
  it('passes an installed handler', () => {
    expect(judgeContainerdHandler(cfg(FLOX), 'config.toml', exe).map((r) => `${r.status} ${r.name}`)).toEqual([
      'pass cri-handler',
      'pass cri-pod-annotations',
      'pass cri-binary',
      'pass cri-systemd-cgroup',
    ]);
  });
  it('fails a missing handler with the install fix', () => {
    const [r] = judgeContainerdHandler(cfg(''), 'config.toml', exe);
    expect(r).toMatchObject({ status: 'fail', fix: 'run `flox-runtime install` on this node' });
  });
  it('fails missing annotations, a binary that does not exist, and a cgroup driver mismatch', () => {
    const broken = FLOX.replace('["flox.dev/*"]', '[]').replace('/opt/flox-runtime/bin/flox-runtime', '/gone').replace('SystemdCgroup = true', 'SystemdCgroup = false');
    const rs = judgeContainerdHandler(cfg(broken), 'config.toml', exe);
    expect(rs.filter((r) => r.status === 'fail').map((r) => r.name)).toEqual(['cri-pod-annotations', 'cri-binary', 'cri-systemd-cgroup']);
    expect(rs.find((r) => r.name === 'cri-systemd-cgroup')?.fix).toBe('set runtimes.flox.options.SystemdCgroup = true and restart containerd');
  });
  it('reads version 3 configs at the 2.x plugin id', () => {
    const v3 = parseToml(`version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.flox]\npod_annotations = ["flox.dev/*"]\n[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.flox.options]\nBinaryName = "/opt/flox-runtime/bin/flox-runtime"\n`, 't');
    expect(judgeContainerdHandler(v3, 'c', exe).map((r) => r.status)).toEqual(['pass', 'pass', 'pass', 'warn']);
  });
  it('CRI-O: runtime_path must exist', () => {
    const c = parseToml('[crio.runtime.runtimes.flox]\nruntime_path = "/gone"\n', 't');
    expect(judgeCrioHandler(c, 'crio', exe).map((r) => r.status)).toEqual(['pass', 'fail']);
  });
});

describe('clock, disk, exit code, report', () => {
  const now = Date.parse('2026-11-28T03:00:00Z');
  it('judges clock skew against the HTTP Date header', () => {
    expect(judgeClock('Sat, 28 Nov 2026 03:00:02 GMT', now, 'hub').status).toBe('pass');
    expect(judgeClock('Sat, 28 Nov 2026 02:50:00 GMT', now, 'hub')).toMatchObject({ status: 'fail', detail: expect.stringContaining('600 s ahead of hub') });
    expect(judgeClock(undefined, now, 'hub').status).toBe('warn');
  });
  it('judges free space', () => {
    expect(judgeDisk('/s', 100 * 1024 ** 3, 200 * 1024 ** 3).status).toBe('pass');
    expect(judgeDisk('/s', 1024 ** 3, 200 * 1024 ** 3).status).toBe('warn');
    expect(judgeDisk('/s', 100 * 1024 ** 2, 200 * 1024 ** 3).status).toBe('fail');
  });
  it('exits 1 only when something failed', () => {
    expect(doctorExitCode([pass('a', 'x'), warn('b', 'y', 'z')])).toBe(0);
    expect(doctorExitCode([pass('a', 'x'), fail('b', 'y', 'z')])).toBe(1);
  });
  it('formats a report', () => {
    expect(formatDoctor([pass('delegate', 'runc at /usr/bin/runc'), warn('disk', '1.0 GiB free', 'run `flox-runtime gc`'), fail('floxhub', 'https://api.flox.dev/git unreachable: ETIMEDOUT', 'check the network')])).toMatchInlineSnapshot(`
      "PASS  delegate  runc at /usr/bin/runc
      WARN  disk      1.0 GiB free
                      fix: run \`flox-runtime gc\`
      FAIL  floxhub   https://api.flox.dev/git unreachable: ETIMEDOUT
                      fix: check the network

      1 passed, 1 warnings, 1 failed"
    `);
  });
});

describe('the config check tells a missing file from a loaded one', () => {
  it('a file that is there: "loaded"; none at the default path: "no config file", every key its default', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { checkConfigFile } = await import('../../../src/ops/doctor-probes.js');
    const dir = mkdtempSync(join(tmpdir(), 'flox-doctor-'));
    writeFileSync(join(dir, 'config.toml'), '');
    expect(checkConfigFile(join(dir, 'config.toml')).detail).toBe(`${join(dir, 'config.toml')} loaded`);
    expect(checkConfigFile(join(dir, 'absent.toml')).detail).toMatch(/^no config file at .*absent\.toml: every key has its default$/);
  });
});
