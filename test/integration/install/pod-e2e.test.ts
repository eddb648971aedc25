// Beyond the served config: a real pod through the handler the installer registered. The
// installer runs against a private containerd config (host root /, config and install root in
// a temp dir), containerd 1.6 starts on it, and a hostNetwork pod with runtimeClass `flox` runs
// busybox through the installed bin/flox-runtime. Reuses the e2e harness's CRI client, images
// and teardown (test/e2e/support); the installer's own proof is containerd-real.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { install, uninstall, type InstallOptions } from '../../../src/install/installer.js';
import { findSourceRoot, listFiles } from '../../../src/install/artifacts.js';
import { e2eGate } from '../../e2e/support/gate.js';
import { teardownLab } from '../../e2e/support/containerd.js';
import { CriClient, Kubelet } from '../../e2e/support/cri.js';
import { ensureImages, BUSYBOX_IMAGE, EMPTY_IMAGE, PAUSE_IMAGE } from '../../e2e/support/images.js';
import { startTestHub, type TestHub } from '../../support/hub.js';
import { privateContainerdConfig, startContainerd, tempDir, writeFile, type Containerd } from './support.js';

const gate = e2eGate('installer: a real pod runs through the installed flox handler');
const source = findSourceRoot(import.meta.dirname);
const built = !!source && existsSync(join(source, 'dist', 'flox-runtime.mjs'));
if (!built && process.env.CI === 'true') throw new Error('pod e2e needs the built runtime (npm run build)');

describe.skipIf(gate.skip || !built)(gate.title, () => {
  let lab: string;
  let cfg: string;
  let sock: string;
  let installRoot: string;
  let ctd: Containerd | undefined;
  let cri: CriClient | undefined;
  let opts: InstallOptions;
  let original: string;
  let hub: TestHub | undefined;
  let runtimeConfig: string;

  beforeAll(async () => {
    // the installed runtime activates a real environment from a local FloxHub and Nix cache
    hub = await startTestHub();
    lab = tempDir('pod');
    cfg = join(lab, 'etc/containerd/config.toml');
    sock = join(lab, 'containerd.sock');
    installRoot = join(lab, 'opt/flox-runtime');
    original = privateContainerdConfig(lab)
      .replace('sandbox_image = "registry.k8s.io/pause:3.6"', `sandbox_image = "${PAUSE_IMAGE}"`)
      .replace('disable_apparmor = false', 'disable_apparmor = true')
      .replace('netns_mounts_under_state_dir = false', 'netns_mounts_under_state_dir = true');
    writeFile(cfg, original);
    // a private copy of the build: another process may rebuild dist/ while this runs
    const snap = join(lab, 'src');
    cpSync(join(source!, 'bin'), join(snap, 'bin'), { recursive: true });
    cpSync(join(source!, 'dist'), join(snap, 'dist'), { recursive: true });
    runtimeConfig = join(lab, 'flox-runtime.toml');
    writeFileSync(
      runtimeConfig,
      `[runtime]\nstate-dir = "${join(lab, 'flox-state')}"\nshell-store-path = "${hub.nix.packages.busybox!.out}"\n` +
        `[floxhub]\nurl = "${hub.url}"\ngit-url = "${hub.gitUrl}"\n[nix]\nsubstituters = ["${hub.url}/cache-xz"]\n` +
        `trusted-public-keys = ["${hub.nix.publicKey}"]\n[log]\nfile = "${join(lab, 'flox-runtime.log')}"\n`,
    );
    opts = { hostRoot: '/', containerdConfig: cfg, installRoot, source: snap, node: { path: process.execPath }, hostExec: 'direct', restart: false, kube: null, criSocket: sock };
  });

  afterAll(async () => {
    cri?.close();
    await hub?.close();
    // the harness's teardown: pods, containerd, shims and their sockets, mounts, cgroups, the dir
    const report = await teardownLab(lab, {
      record: {
        id: 'install-pod',
        dir: lab,
        socket: sock,
        configFile: cfg,
        cgroupRoot: 'flox-install-e2e',
        pid: ctd?.proc.pid,
        owner: process.pid,
        persistent: false,
        createdAt: new Date().toISOString(),
      },
    });
    expect(report.problems).toEqual([]);
  });

  it('install, start containerd, run a pod with runtimeClass flox', async () => {
    const r = await install(opts);
    expect(r.stages.find((s) => s.stage === 'runtime-config')?.status).toBe('changed');
    const binary = join(installRoot, 'bin/flox-runtime');
    expect(readFileSync(join(installRoot, 'etc/node-path'), 'utf8')).toBe(`${process.execPath}\n`);
    // the installed copy is complete: the front end hands an operator command to the installed bundle and its chunks
    // (V8 code caches are the runtime's own, written on first use: never copied)
    expect(listFiles(join(installRoot, 'dist'))).toEqual(listFiles(join(opts.source!, 'dist')).filter((f) => !f.endsWith('.v8cache')));
    expect(execFileSync(binary, ['version'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })).toMatch(/^flox-runtime \d+\.\d+\.\d+/);

    ctd = await startContainerd(cfg, sock, join(lab, 'containerd.log'), { FLOX_RUNTIME_CONFIG: runtimeConfig });
    for (const img of await ensureImages()) execFileSync('ctr', ['--address', sock, '-n', 'k8s.io', 'images', 'import', img.tar], { stdio: 'ignore' });
    cri = new CriClient(`unix://${sock}`);
    const kubelet = new Kubelet(cri, { podLogRoot: join(lab, 'pods'), cgroupRoot: 'flox-install-e2e' });

    await kubelet.withPod({ name: 'installed-handler', handler: 'flox', hostNetwork: true }, async (pod) => {
      const { info } = await cri!.podSandboxStatus(pod.id, true);
      const sandbox = JSON.parse(info.info!) as { runtimeHandler: string; runtimeType: string; runtimeOptions: { binary_name: string; root: string } };
      expect(sandbox).toMatchObject({ runtimeHandler: 'flox', runtimeType: 'io.containerd.runc.v2', runtimeOptions: { binary_name: binary, root: `${lab}/runc` } });
      const c = await kubelet.run(pod, { name: 'app', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo hello from the installed handler'] });
      expect((await kubelet.waitForLog(c)).line).toBe('hello from the installed handler');
    });
    // and a flox pod: zero-layer image, the command comes from the environment
    await kubelet.withPod({ name: 'installed-flox-pod', handler: 'flox', hostNetwork: true, annotations: { 'flox.dev/environment': 'public-owner/hello' } }, async (pod) => {
      const c = await kubelet.run(pod, { name: 'app', image: EMPTY_IMAGE, command: ['hello'] });
      expect((await kubelet.waitForLog(c)).line).toBe('Hello, world!');
    });

    // uninstall while containerd still runs with the handler: the config goes back byte for byte
    await uninstall(opts);
    expect(readFileSync(cfg, 'utf8')).toBe(original);
    expect(existsSync(installRoot)).toBe(false);
  });
});
