// The proof against a real containerd (Debian's 1.6, installed): install into a temporary host
// root whose config is `containerd config default` with private paths, start containerd on it,
// and ask it over CRI which handlers it serves. Never touches the machine's own containerd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireSystem } from '../../support/gates.js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { install, uninstall, type InstallOptions } from '../../../src/install/installer.js';
import { criStatusInfo } from '../../../src/install/cri-status.js';
import { handlerFromCriConfig } from '../../../src/install/verify.js';
import { KubeClient } from '../../../src/install/kube.js';
import { fakeKubeApi, fakeSource, privateContainerdConfig, rmrf, snapshot, startContainerd, tempDir, writeFile, type Containerd, type FakeApi } from './support.js';

const BIN = '/opt/flox-runtime/bin/flox-runtime';
const skip = requireSystem({ root: true, commands: ['containerd', 'ctr'] });
let host: string;
let lab: string;
let src: string;
let sock: string;
let cfgPath: string;
let ctd: Containerd | undefined;
let api: FakeApi | undefined;
let opts: InstallOptions;
let pristine: Record<string, string>;

beforeAll(async () => {
  if (skip) return;
  host = tempDir('host');
  lab = join(host, 'lab'); // containerd's private root/state/socket, inside the temp dir
  src = fakeSource(tempDir('src'));
  sock = join(lab, 'containerd.sock');
  cfgPath = join(host, 'etc/containerd/config.toml');
  writeFile(cfgPath, privateContainerdConfig(lab));
  api = await fakeKubeApi({ '/api/v1/nodes/n1': { metadata: { name: 'n1', labels: {} } } });
  opts = {
    hostRoot: host,
    source: src,
    node: 'none',
    restart: false, // this test plays systemd: it starts and stops containerd itself
    hostExec: 'direct',
    criSocket: sock,
    kube: new KubeClient({ baseUrl: api.url }),
    nodeName: 'n1',
  };
  pristine = snapshot(join(host, 'etc'));
});

afterAll(async () => {
  await ctd?.stop();
  await api?.close();
  if (host) rmrf(host);
  if (src) rmrf(src);
});

async function served() {
  const info = await criStatusInfo({ socket: sock });
  return handlerFromCriConfig(info.config!);
}

describe.skipIf(!!skip)('containerd 1.6 serves the flox handler the installer registered', () => {
  it('installs into the temp root (asking the real `containerd --version`)', async () => {
    const r = await install(opts);
    expect(r.notes.join('\n')).toMatch(/containerd --version: containerd .* 1\.6\./);
    expect(r.notes.join('\n')).toMatch(/block in \/etc\/containerd\/config\.toml \(config version 2/);
    expect(r.stages.find((s) => s.stage === 'label')?.status).toBe('skipped'); // not served yet: no label
    expect(api!.requests.filter((q) => q.method === 'PATCH')).toEqual([]);
  });

  it('containerd started on the patched config serves flox with pod_annotations and the cloned runc options', async () => {
    ctd = await startContainerd(cfgPath, sock, join(host, 'containerd.log'));
    const h = await served();
    expect(h).toEqual({
      runtimeType: 'io.containerd.runc.v2',
      podAnnotations: ['flox.dev/*'],
      options: expect.objectContaining({ BinaryName: BIN, Root: `${lab}/runc`, SystemdCgroup: false }),
    });
    // the runc handler is intact
    const runc = (JSON.parse((await criStatusInfo({ socket: sock })).config!) as { containerd: { runtimes: Record<string, { options: { BinaryName: string } }> } })
      .containerd.runtimes.runc;
    expect(runc?.options.BinaryName).toBe('');
    // containerd's own startup line shows the same
    const log = readFileSync(join(host, 'containerd.log'), 'utf8');
    expect(log).toMatch(new RegExp(`Runtimes:map\\[flox:\\{Type:io\\.containerd\\.runc\\.v2 .*PodAnnotations:\\[flox\\.dev/\\*\\].*BinaryName:${BIN}`));
    // and the CRI plugin loaded fine
    expect(execFileSync('ctr', ['--address', sock, 'plugins', 'ls'], { encoding: 'utf8' })).toMatch(/io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/);
  });

  it('a rerun changes nothing, verifies the served handler and labels the node', async () => {
    const r = await install(opts);
    expect(r.changes).toEqual([]);
    expect(r.stages.find((s) => s.stage === 'verify')).toMatchObject({ status: 'done' });
    expect(r.stages.find((s) => s.stage === 'label')).toMatchObject({ status: 'done', detail: 'flox.dev/enabled=true on node n1' });
    expect(r.served?.options.BinaryName).toBe(BIN);
    expect(api!.requests.filter((q) => q.method === 'PATCH').map((q) => q.body)).toEqual([{ metadata: { labels: { 'flox.dev/enabled': 'true' } } }]);
  });

  it('uninstall restores the config byte for byte; restarted containerd no longer serves flox', async () => {
    const r = await uninstall(opts);
    expect(r.stages.find((s) => s.stage === 'label')).toMatchObject({ status: 'done' });
    expect(snapshot(join(host, 'etc'))).toEqual(pristine);
    await ctd!.stop();
    ctd = await startContainerd(cfgPath, sock, join(host, 'containerd2.log'));
    expect(await served()).toBeNull();
  });
});

describe.skipIf(!!skip)('why containerd 1.x gets a main-file edit, not a drop-in', () => {
  it('an imported drop-in holding only the flox table replaces the whole CRI section on 1.6', async () => {
    await ctd?.stop();
    ctd = undefined;
    const lab2 = join(host, 'lab2');
    const main = privateContainerdConfig(lab2).replace('imports = []', `imports = ["${lab2}/conf.d/*.toml"]`);
    const cfg2 = join(lab2, 'config.toml');
    writeFile(cfg2, main);
    writeFile(
      join(lab2, 'conf.d/99-flox.toml'),
      `version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.flox]\n  runtime_type = "io.containerd.runc.v2"\n  pod_annotations = ["flox.dev/*"]\n`,
    );
    const c = await startContainerd(cfg2, join(lab2, 'containerd.sock'), join(lab2, 'containerd.log'));
    try {
      const log = readFileSync(join(lab2, 'containerd.log'), 'utf8');
      expect(log).toMatch(/failed to load plugin io\.containerd\.grpc\.v1\.cri.*no corresponding runtime configured in `containerd.runtimes` for `containerd` `default_runtime_name = \\"runc\\"/);
    } finally {
      await c.stop();
    }
  });
});

describe.skipIf(!!skip)('a kubeadm-style 1.7 config (SystemdCgroup = true) on the real containerd', () => {
  it('the served flox handler carries SystemdCgroup = true, cloned from runc', async () => {
    const h = tempDir('host17');
    const lab17 = join(h, 'lab');
    const src17 = fakeSource(tempDir('src17'));
    const fixture = readFileSync(join(import.meta.dirname, '../../unit/install/fixtures/containerd-1.7.toml'), 'utf8');
    const cfg17 = join(h, 'etc/containerd/config.toml');
    const original = privateContainerdConfig(lab17, fixture);
    writeFile(cfg17, original);
    let c: Containerd | undefined;
    try {
      await install({ hostRoot: h, source: src17, node: 'none', restart: false, hostExec: 'direct', kube: null });
      c = await startContainerd(cfg17, join(lab17, 'containerd.sock'), join(h, 'containerd.log'));
      const info = await criStatusInfo({ socket: join(lab17, 'containerd.sock') });
      expect(handlerFromCriConfig(info.config!)).toMatchObject({
        podAnnotations: ['flox.dev/*'],
        options: { BinaryName: BIN, SystemdCgroup: true, Root: `${lab17}/runc` },
      });
      await uninstall({ hostRoot: h, restart: false, kube: null, criSocket: join(lab17, 'containerd.sock') });
      expect(readFileSync(cfg17, 'utf8')).toBe(original);
    } finally {
      await c?.stop();
      rmrf(h);
      rmrf(src17);
    }
  });
});
