// Restart, verify and label with a scripted systemd and a fake CRI socket that serves whatever
// the config file on disk says (as a restarted containerd would).
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { install, uninstall } from '../../../src/install/installer.js';
import { KubeClient } from '../../../src/install/kube.js';
import type { Exec } from '../../../src/install/host-exec.js';
import { getTable, parseToml } from '../../../src/install/toml-edit.js';
import { fakeCriServer, fakeKubeApi, fakeSource, rmrf, tempDir, writeFile } from './support.js';

const FIX = join(import.meta.dirname, '../../unit/install/fixtures');
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** containerd's CRI config JSON, the runtimes part, from a v2 config file. */
function served(cfgFile: string) {
  const cfg = parseToml(readFileSync(cfgFile, 'utf8'), 'cfg');
  const rts = getTable(cfg, ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes']) ?? {};
  const runtimes: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(rts) as [string, Record<string, unknown>][]) {
    runtimes[name] = { runtimeType: t.runtime_type, PodAnnotations: t.pod_annotations ?? [], options: t.options ?? {} };
  }
  return { containerd: { runtimes } };
}

async function setup(activeUnits: string[] = ['containerd']) {
  const host = tempDir('rv');
  const src = fakeSource(tempDir('rvsrc'));
  cleanup.push(() => rmrf(host), () => rmrf(src));
  const cfgFile = join(host, 'etc/containerd/config.toml');
  writeFile(cfgFile, readFileSync(join(FIX, 'containerd-1.7.toml')));
  const sock = join(host, 'run/containerd/containerd.sock');
  writeFile(join(host, 'run/containerd/.keep'), '');
  const tamper = { on: false };
  const cri = await fakeCriServer(sock, () => {
    const c = served(cfgFile) as { containerd: { runtimes: Record<string, { PodAnnotations: unknown }> } };
    if (tamper.on && c.containerd.runtimes.flox) c.containerd.runtimes.flox.PodAnnotations = [];
    return c;
  });
  const api = await fakeKubeApi({ '/api/v1/nodes/n1': { metadata: { name: 'n1', labels: {} } } });
  cleanup.push(() => cri.close(), () => api.close());
  const calls: string[] = [];
  const exec: Exec = async (argv) => {
    calls.push(argv.join(' '));
    if (argv[0] === 'containerd') return { exitCode: 0, stdout: 'containerd containerd.io 1.7.22 abc\n', stderr: '' };
    if (argv[1] === 'is-active') return { exitCode: activeUnits.includes(argv[3]!) ? 0 : 3, stdout: '', stderr: '' };
    if (argv[1] === 'daemon-reload' || argv[1] === 'restart') return { exitCode: 0, stdout: '', stderr: '' };
    return { exitCode: 1, stdout: '', stderr: 'unexpected' };
  };
  const opts = { hostRoot: host, source: src, node: 'none' as const, exec, kube: new KubeClient({ baseUrl: api.url }), nodeName: 'n1', verifyTimeoutMs: 5_000 };
  return { host, cfgFile, cri, api, calls, opts, tamper };
}

describe('restart, verify, label', () => {
  it('restarts the active unit, verifies the served handler, then labels the node', async () => {
    const { calls, api, opts } = await setup();
    const r = await install(opts);
    expect(calls.filter((c) => c.startsWith('systemctl'))).toEqual(['systemctl is-active --quiet containerd', 'systemctl daemon-reload', 'systemctl restart containerd']);
    expect(r.stages.map((s) => [s.stage, s.status])).toEqual([
      ['host-check', 'done'],
      ['artifacts', 'changed'],
      ['runtime-config', 'changed'],
      ['restart', 'done'],
      ['verify', 'done'],
      ['label', 'done'],
    ]);
    expect(r.served).toMatchObject({ podAnnotations: ['flox.dev/*'], options: { SystemdCgroup: true, BinaryName: '/opt/flox-runtime/bin/flox-runtime' } });
    expect(api.requests.filter((q) => q.method === 'PATCH').map((q) => q.body)).toEqual([{ metadata: { labels: { 'flox.dev/enabled': 'true' } } }]);
  });

  it('a rerun does not restart anything', async () => {
    const { calls, opts } = await setup();
    await install(opts);
    calls.length = 0;
    const r = await install(opts);
    expect(calls.filter((c) => c.startsWith('systemctl'))).toEqual([]);
    expect(r.stages.find((s) => s.stage === 'restart')).toMatchObject({ status: 'skipped', detail: 'config unchanged and the handler is already served' });
    expect(r.stages.find((s) => s.stage === 'label')?.status).toBe('done');
  });

  it('no active unit: a clear error after the files are written (a rerun finishes the job)', async () => {
    const { opts } = await setup([]);
    await expect(install(opts)).rejects.toThrow(/no active systemd unit for containerd/);
  });

  it('a handler served with other settings is refused, and the node stays unlabelled', async () => {
    const { api, opts, tamper } = await setup();
    // e.g. an imported file overrides the handler: what is served is not what we wrote
    tamper.on = true;
    await expect(install(opts)).rejects.toThrow(/serves a `flox` handler that is not ours: pod_annotations lacks "flox.dev\/\*"/);
    expect(api.requests.filter((q) => q.method === 'PATCH')).toEqual([]);
  });

  it('uninstall unlabels first, restarts, and checks flox is gone', async () => {
    const { calls, api, opts } = await setup();
    await install(opts);
    calls.length = 0;
    const r = await uninstall(opts);
    expect(r.stages.map((s) => [s.stage, s.status])).toEqual([
      ['label', 'done'],
      ['runtime-config', 'changed'],
      ['restart', 'done'],
      ['verify', 'done'],
      ['artifacts', 'changed'],
    ]);
    expect(r.stages.find((s) => s.stage === 'verify')?.detail).toBe('flox no longer served');
    expect(calls).toContain('systemctl restart containerd');
    expect(api.requests.filter((q) => q.method === 'PATCH').map((q) => q.body)).toEqual([
      { metadata: { labels: { 'flox.dev/enabled': 'true' } } },
      { metadata: { labels: { 'flox.dev/enabled': null } } },
    ]);
  });
});
