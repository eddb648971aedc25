// The whole installer against a temporary host root: real files, no systemd, no cluster.
import { afterEach, describe, expect, it } from 'vitest';
import { chownSync, chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { install, uninstall, type InstallOptions } from '../../../src/install/installer.js';
import { runDaemon, decideCleanup } from '../../../src/install/daemon.js';
import { KubeClient } from '../../../src/install/kube.js';
import type { Exec } from '../../../src/install/host-exec.js';
import { FloxError } from '../../../src/errors.js';
import { fakeKubeApi, fakeSource, rmrf, snapshot, tempDir, writeFile, type FakeApi } from './support.js';

const FIX = join(import.meta.dirname, '../../unit/install/fixtures');
const fixture = (n: string) => readFileSync(join(FIX, n), 'utf8');
const containerdDefault = () => execFileSync('containerd', ['config', 'default'], { encoding: 'utf8' });

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** An exec that knows only `containerd --version` / `config default`; anything else fails loudly. */
function fakeExec(version: string): Exec & { calls: string[][] } {
  const calls: string[][] = [];
  const f = (async (argv: string[]) => {
    calls.push(argv);
    if (argv.join(' ') === 'containerd --version') return { exitCode: 0, stdout: `containerd github.com/containerd/containerd ${version} x\n`, stderr: '' };
    if (argv.join(' ') === 'containerd config default') return { exitCode: 0, stdout: containerdDefault(), stderr: '' };
    return { exitCode: 1, stdout: '', stderr: `unexpected host command ${argv.join(' ')}` };
  }) as Exec & { calls: string[][] };
  f.calls = calls;
  return f;
}

function setup(files: Record<string, string>, version = '1.7.22') {
  const host = tempDir('host');
  const src = fakeSource(tempDir('src'));
  cleanup.push(() => rmrf(host), () => rmrf(src));
  for (const [p, t] of Object.entries(files)) writeFile(join(host, p), t);
  const exec = fakeExec(version);
  const opts: InstallOptions = { hostRoot: host, source: src, node: 'none', restart: false, kube: null, exec, criSocket: join(host, 'no.sock') };
  return { host, src, exec, opts };
}

describe('install / uninstall on a temporary host root (containerd 1.7 config)', () => {
  it('dry run prints the diff and changes nothing', async () => {
    const { host, opts } = setup({ '/etc/containerd/config.toml': fixture('containerd-1.7.toml') });
    const before = snapshot(host);
    const r = await install({ ...opts, dryRun: true });
    expect(snapshot(host)).toEqual(before);
    expect(r.changes.map((c) => [c.action, c.path.slice(host.length)])).toEqual([
      ['create', '/opt/flox-runtime/dist/chunks/oci-AAAA1111.mjs'],
      ['create', '/opt/flox-runtime/dist/chunks/operator-BBBB2222.mjs'],
      ['create', '/opt/flox-runtime/dist/flox-runtime.mjs'],
      ['create', '/opt/flox-runtime/dist/flox-runtime.mjs.map'],
      ['create', '/opt/flox-runtime/bin/flox-runtime'],
      ['update', '/etc/containerd/config.toml'],
      ['create', '/etc/containerd/config.toml.flox-runtime.bak'],
    ]);
    expect(r.diff).toContain('+[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.flox]');
    expect(r.diff).toContain('+BinaryName = "/opt/flox-runtime/bin/flox-runtime"');
  });

  it('installs, reruns with no diff, and uninstalls to a byte-identical tree', async () => {
    const { host, opts } = setup({ '/etc/containerd/config.toml': fixture('containerd-1.7.toml'), '/etc/hostname': 'n1\n' });
    const before = snapshot(host);
    const first = await install(opts);
    expect(first.stages.find((s) => s.stage === 'runtime-config')?.status).toBe('changed');
    expect(first.stages.find((s) => s.stage === 'restart')?.detail).toMatch(/--no-restart: restart containerd/);
    expect(first.stages.find((s) => s.stage === 'label')?.status).toBe('skipped');
    expect(readFileSync(join(host, 'opt/flox-runtime/bin/flox-runtime'), 'utf8')).toContain('exec runc');
    const cfg = readFileSync(join(host, 'etc/containerd/config.toml'), 'utf8');
    expect(cfg.startsWith(fixture('containerd-1.7.toml'))).toBe(true);
    expect(readFileSync(join(host, 'etc/containerd/config.toml.flox-runtime.bak'), 'utf8')).toBe(fixture('containerd-1.7.toml'));

    const second = await install({ ...opts, dryRun: true });
    expect(second.changes).toEqual([]);
    expect(second.diff).toBe('');
    const third = await install(opts);
    expect(third.stages.find((s) => s.stage === 'artifacts')?.status).toBe('unchanged');
    expect(third.stages.find((s) => s.stage === 'runtime-config')?.status).toBe('unchanged');

    const un = await uninstall(opts);
    expect(un.stages.find((s) => s.stage === 'runtime-config')?.status).toBe('changed');
    expect(snapshot(host)).toEqual(before);
    // and uninstalling again is a no-op
    await uninstall(opts);
    expect(snapshot(host)).toEqual(before);
  });

  it('an upgrade replaces the bundle and drops chunks of the old build', async () => {
    const { host, src, opts } = setup({ '/etc/containerd/config.toml': fixture('containerd-1.7.toml') });
    const before = snapshot(host);
    await install(opts);
    rmrf(join(src, 'dist/chunks/oci-AAAA1111.mjs'));
    writeFile(join(src, 'dist/chunks/oci-CCCC3333.mjs'), '// new oci chunk\n');
    writeFile(join(src, 'dist/flox-runtime.mjs'), '// bundle v2\n', 0o755);
    const r = await install(opts);
    expect(r.changes.map((c) => [c.action, c.path.slice(host.length)])).toEqual([
      ['create', '/opt/flox-runtime/dist/chunks/oci-CCCC3333.mjs'],
      ['update', '/opt/flox-runtime/dist/flox-runtime.mjs'],
      ['delete', '/opt/flox-runtime/dist/chunks/oci-AAAA1111.mjs'],
    ]);
    expect(r.stages.find((s) => s.stage === 'runtime-config')?.status).toBe('unchanged');
    await uninstall(opts);
    expect(snapshot(host)).toEqual(before);
  });

  it('remembers a non-default --containerd-config for reruns and uninstall', async () => {
    const { host, opts } = setup({ '/etc/containerd/custom.toml': fixture('containerd-1.7.toml') });
    const before = snapshot(host);
    await install({ ...opts, runtime: 'containerd', containerdConfig: '/etc/containerd/custom.toml' });
    expect(readFileSync(join(host, 'etc/containerd/custom.toml'), 'utf8')).toContain('runtimes.flox');
    expect((await install({ ...opts, runtime: 'containerd', dryRun: true })).changes).toEqual([]);
    await uninstall({ ...opts, runtime: 'containerd' });
    expect(snapshot(host)).toEqual(before);
  });

  it('uninstall dry run changes nothing', async () => {
    const { host, opts } = setup({ '/etc/containerd/config.toml': fixture('containerd-1.7.toml') });
    await install(opts);
    const installed = snapshot(host);
    const r = await uninstall({ ...opts, dryRun: true });
    expect(r.changes.some((c) => c.action === 'update' && c.path.endsWith('config.toml'))).toBe(true);
    expect(snapshot(host)).toEqual(installed);
  });

  it('refuses a malformed config and leaves everything untouched', async () => {
    const bad = `${fixture('containerd-1.7.toml')}\n[plugins."io.containerd.grpc.v1.cri".containerd\n`;
    const { host, opts } = setup({ '/etc/containerd/config.toml': bad });
    const before = snapshot(host);
    await expect(install(opts)).rejects.toThrow(FloxError);
    await expect(install(opts)).rejects.toThrow(/not valid TOML \(line \d+/);
    expect(snapshot(host)).toEqual(before);
  });

  it('keeps the mode and owner of a config it rewrites: a 0600 config with credentials stays 0600', async () => {
    const { host, opts } = setup({ '/etc/containerd/config.toml': fixture('containerd-1.7.toml') });
    const p = join(host, 'etc/containerd/config.toml');
    chmodSync(p, 0o600);
    chownSync(p, 1234, 1234);
    const owner = () => {
      const st = statSync(p);
      return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    };
    await install(opts);
    expect(readFileSync(p, 'utf8')).toContain('runtimes.flox');
    expect(owner()).toEqual({ mode: 0o600, uid: 1234, gid: 1234 });
    await uninstall(opts);
    expect(readFileSync(p, 'utf8')).toBe(fixture('containerd-1.7.toml'));
    expect(owner()).toEqual({ mode: 0o600, uid: 1234, gid: 1234 });
  });

  it('keeps edits the user made after the install when uninstalling', async () => {
    const { host, opts } = setup({ '/etc/containerd/config.toml': fixture('containerd-1.7.toml') });
    await install(opts);
    const p = join(host, 'etc/containerd/config.toml');
    const edited = readFileSync(p, 'utf8').replace('max_concurrent_downloads = 3', 'max_concurrent_downloads = 5');
    writeFile(p, edited);
    const un = await uninstall(opts);
    expect(readFileSync(p, 'utf8')).toBe(fixture('containerd-1.7.toml').replace('max_concurrent_downloads = 3', 'max_concurrent_downloads = 5'));
    expect(un.notes.join('\n')).toMatch(/kept .*config\.toml\.flox-runtime\.bak/);
  });
});

describe('other runtimes and layouts', () => {
  it('containerd 2.x with conf.d imported: drop-in only, main file untouched', async () => {
    const { host, opts } = setup({ '/etc/containerd/config.toml': fixture('containerd-2.1.toml') }, 'v2.1.4');
    const before = snapshot(host);
    const r = await install(opts);
    expect(r.notes.join('\n')).toMatch(/drop-in \/etc\/containerd\/conf\.d\/99-flox-runtime\.toml/);
    expect(readFileSync(join(host, 'etc/containerd/config.toml'), 'utf8')).toBe(fixture('containerd-2.1.toml'));
    expect(readFileSync(join(host, 'etc/containerd/conf.d/99-flox-runtime.toml'), 'utf8')).toContain("[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.flox]");
    // a file the installer creates is 0644, whatever the umask
    expect(statSync(join(host, 'etc/containerd/conf.d/99-flox-runtime.toml')).mode & 0o7777).toBe(0o644);
    expect((await install({ ...opts, dryRun: true })).changes).toEqual([]);
    await uninstall(opts);
    expect(snapshot(host)).toEqual(before);
  });

  it('no containerd config at all: seeded from `containerd config default`, removed again', async () => {
    const { host, opts } = setup({ '/etc/containerd/.keep': '' }, '1.6.20');
    const before = snapshot(host);
    await install(opts);
    const cfg = readFileSync(join(host, 'etc/containerd/config.toml'), 'utf8');
    expect(cfg.startsWith(containerdDefault())).toBe(true);
    await uninstall(opts);
    expect(snapshot(host)).toEqual(before);
  });

  it('k3s: creates config.toml.tmpl and removes it', async () => {
    const { host, opts } = setup({ '/var/lib/rancher/k3s/agent/etc/containerd/config.toml': fixture('k3s-config.toml') });
    const before = snapshot(host);
    const r = await install({ ...opts, runtime: 'auto' });
    expect(r.runtime).toBe('k3s');
    const t = readFileSync(join(host, 'var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl'), 'utf8');
    expect(t).toContain('{{ template "base" . }}');
    expect((await install({ ...opts, dryRun: true })).changes).toEqual([]);
    await uninstall(opts);
    expect(snapshot(host)).toEqual(before);
  });

  it("rke2: edits the user's template and restores it", async () => {
    const { host, opts } = setup({
      '/var/lib/rancher/rke2/agent/etc/containerd/config.toml': fixture('k3s-config.toml'),
      '/var/lib/rancher/rke2/agent/etc/containerd/config.toml.tmpl': fixture('k3s-config.toml.tmpl'),
    });
    const before = snapshot(host);
    const r = await install(opts);
    expect(r.runtime).toBe('rke2');
    await uninstall(opts);
    expect(snapshot(host)).toEqual(before);
  });

  it('CRI-O: drop-in in crio.conf.d, removed again', async () => {
    const { host, opts } = setup({ '/etc/crio/crio.conf': fixture('crio.conf'), '/etc/crio/crio.conf.d/10-site.conf': '[crio.runtime]\nlog_level = "info"\n' });
    const before = snapshot(host);
    const r = await install({ ...opts, runtime: 'crio' });
    expect(r.runtime).toBe('crio');
    expect(readFileSync(join(host, 'etc/crio/crio.conf.d/99-flox-runtime.conf'), 'utf8')).toContain('runtime_path = "/opt/flox-runtime/bin/flox-runtime"');
    await uninstall({ ...opts, runtime: 'crio' });
    expect(snapshot(host)).toEqual(before);
  });

  it('installs a Node binary and the node-path setting when asked', async () => {
    const { host, opts } = setup({ '/etc/containerd/config.toml': fixture('containerd-1.7.toml') });
    await install({ ...opts, node: { path: '/usr/bin/node' } });
    expect(readFileSync(join(host, 'opt/flox-runtime/etc/node-path'), 'utf8')).toBe('/usr/bin/node\n');
    await uninstall(opts);
    expect(existsSync(join(host, 'opt'))).toBe(false);
  });
});

describe('daemon mode: the cleanup rule on SIGTERM', () => {
  const NS = 'flox-system';
  const dsPath = `/apis/apps/v1/namespaces/${NS}/daemonsets/flox-installer`;
  const podPath = `/api/v1/namespaces/${NS}/pods/flox-installer-abcde`;
  const nodePath = '/api/v1/nodes/n1';
  const env = { NODE_NAME: 'n1', POD_NAMESPACE: NS, POD_NAME: 'flox-installer-abcde' };
  const objects = () => ({
    [podPath]: { metadata: { name: 'flox-installer-abcde', namespace: NS, ownerReferences: [{ kind: 'DaemonSet', name: 'flox-installer', apiVersion: 'apps/v1' }] } },
    [dsPath]: { metadata: { name: 'flox-installer', namespace: NS }, spec: { template: { spec: { nodeSelector: { 'flox.dev/pool': 'ci' } } } } },
    [nodePath]: { metadata: { name: 'n1', labels: { 'flox.dev/pool': 'ci' } } },
  });
  let api: FakeApi;
  const start = async (o = objects()) => {
    api = await fakeKubeApi(o);
    cleanup.push(() => api.close());
    return new KubeClient({ baseUrl: api.url });
  };

  it('rolling update (DaemonSet still selects the node): no cleanup', async () => {
    const kube = await start();
    expect(await decideCleanup(kube, 'n1', env)).toMatchObject({ cleanup: false, why: expect.stringMatching(/still selects/) });
  });

  it('DaemonSet deleted: cleanup', async () => {
    const o = objects();
    delete (o as Record<string, unknown>)[dsPath];
    expect(await decideCleanup(await start(o), 'n1', env)).toMatchObject({ cleanup: true, why: expect.stringMatching(/gone/) });
  });

  it('node relabelled out of the selector: cleanup', async () => {
    const o = objects();
    (o[nodePath] as { metadata: { labels: Record<string, string> } }).metadata.labels = {};
    expect(await decideCleanup(await start(o), 'n1', env)).toMatchObject({ cleanup: true });
  });

  it('API unreachable or not in a cluster: no cleanup', async () => {
    expect(await decideCleanup(new KubeClient({ baseUrl: 'http://127.0.0.1:9' }), 'n1', env)).toMatchObject({ cleanup: false, why: expect.stringMatching(/API error/) });
    expect(await decideCleanup(null, undefined, {})).toMatchObject({ cleanup: false });
  });

  it('install, prefetch, SIGTERM after the DaemonSet was deleted: node restored byte for byte', async () => {
    const o = objects();
    delete (o as Record<string, unknown>)[dsPath];
    const kube = await start(o);
    const { host, opts } = setup({ '/etc/containerd/config.toml': fixture('containerd-1.7.toml') });
    const before = snapshot(host);
    const pulls = tempDir('pulls');
    cleanup.push(() => rmrf(pulls));
    // stands in for `flox-runtime env pull <ref>` (implemented elsewhere): records its argv
    const cli = ['/bin/sh', '-c', `echo "$@" >> ${pulls}/log`, 'flox-runtime'];
    let stop!: (s: string) => void;
    const events: Record<string, unknown>[] = [];
    const done = runDaemon({
      ...opts,
      kube,
      env,
      cli,
      prefetchList: 'flox/hello, acme/tools:4',
      readyFile: join(pulls, 'ready'),
      stopSignal: new Promise((r) => (stop = r)),
      emit: (e) => events.push(e),
    });
    for (let i = 0; i < 100 && !existsSync(join(pulls, 'ready')); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(join(host, 'opt/flox-runtime/bin/flox-runtime'))).toBe(true);
    expect(readFileSync(join(pulls, 'log'), 'utf8')).toBe('env pull flox/hello\nenv pull acme/tools:4\n');
    stop('SIGTERM');
    const res = await done;
    expect(res.decision.cleanup).toBe(true);
    expect(snapshot(host)).toEqual(before);
    expect(api.requests.some((r) => r.method === 'PATCH' && JSON.stringify(r.body) === '{"metadata":{"labels":{"flox.dev/enabled":null}}}')).toBe(true);
  });
});
