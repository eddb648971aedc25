import { describe, expect, it } from 'vitest';
import { parsePrefetchList } from '../../../src/install/prefetch.js';
import { decodeStatusInfo } from '../../../src/install/cri-status.js';
import { goGlobMatch } from '../../../src/install/glob.js';
import { lineDiff } from '../../../src/install/diff.js';
import { handlerFromCriConfig, checkServed } from '../../../src/install/verify.js';

describe('parsePrefetchList', () => {
  it('takes owner/name[:gen] separated by commas, spaces, newlines; comments and junk reported', () => {
    expect(parsePrefetchList('flox/hello, acme/build-env:3\n# comment\nacme/build-env:3 not-a-ref ../x/y')).toEqual({
      refs: ['flox/hello', 'acme/build-env:3'],
      invalid: ['not-a-ref', '../x/y'],
    });
    expect(parsePrefetchList('')).toEqual({ refs: [], invalid: [] });
  });
});

describe('decodeStatusInfo', () => {
  const str = (field: number, s: string) => {
    const b = Buffer.from(s);
    return Buffer.concat([Buffer.from([(field << 3) | 2, b.length]), b]);
  };
  it('reads map<string,string> field 2 and skips the status message', () => {
    const entry = Buffer.concat([str(1, 'config'), str(2, '{"a":1}')]);
    const status = Buffer.from([0x0a, 0x02, 0x08, 0x01]);
    const msg = Buffer.concat([status, Buffer.from([0x12, entry.length]), entry]);
    expect(decodeStatusInfo(msg)).toEqual({ config: '{"a":1}' });
  });
});

describe('goGlobMatch (Go filepath.Match)', () => {
  it.each([
    ['/etc/containerd/conf.d/*.toml', '/etc/containerd/conf.d/99-flox-runtime.toml', true],
    ['/etc/containerd/*.toml', '/etc/containerd/conf.d/99-flox-runtime.toml', false],
    ['/etc/containerd/conf.d/9?-flox-runtime.toml', '/etc/containerd/conf.d/99-flox-runtime.toml', true],
    ['/etc/containerd/conf.d/[0-9]*.toml', '/etc/containerd/conf.d/99-flox-runtime.toml', true],
  ])('%s ~ %s', (p, s, m) => expect(goGlobMatch(p, s)).toBe(m));
});

describe('lineDiff', () => {
  it('shows added lines with context', () => {
    expect(lineDiff('a\nb\n', 'a\nb\nc\n')).toEqual([' a', ' b', '+c']);
  });
});

describe('served handler check', () => {
  const cfg = (rt: unknown) => JSON.stringify({ containerd: { runtimes: { runc: {}, ...(rt ? { flox: rt } : {}) } } });
  it('accepts our handler and names what is wrong otherwise', () => {
    const ok = handlerFromCriConfig(cfg({ runtimeType: 'io.containerd.runc.v2', PodAnnotations: ['flox.dev/*'], options: { BinaryName: '/b' } }));
    expect(checkServed(ok, '/b', 'containerd')).toMatchObject({ podAnnotations: ['flox.dev/*'] });
    expect(() => checkServed(handlerFromCriConfig(cfg(null)), '/b', 'containerd')).toThrow(/does not serve/);
    const wrong = handlerFromCriConfig(cfg({ PodAnnotations: [], options: { BinaryName: '/other' } }));
    expect(() => checkServed(wrong, '/b', 'containerd')).toThrow(/BinaryName is "\/other".*pod_annotations/);
  });
});

describe('hostCli (prefetch runs the installed runtime on the host)', async () => {
  const { hostCli } = await import('../../../src/install/daemon.js');
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  it('nsenters PID 1 and runs the Node named by etc/node-path with the installed bundle', () => {
    const h = mkdtempSync(join(tmpdir(), 'flox-hostcli-'));
    try {
      mkdirSync(join(h, 'opt/flox-runtime/etc'), { recursive: true });
      writeFileSync(join(h, 'opt/flox-runtime/etc/node-path'), '/opt/flox-runtime/libexec/node\n');
      expect(hostCli({ hostRoot: h, hostExec: 'nsenter' })).toEqual([
        'nsenter', '--target', '1', '--mount', '--uts', '--ipc', '--net', '--pid', '--',
        '/opt/flox-runtime/libexec/node', '/opt/flox-runtime/dist/flox-runtime.mjs',
      ]);
      expect(hostCli({ hostRoot: '/', installRoot: '/nowhere' })).toEqual(['node', '/nowhere/dist/flox-runtime.mjs']);
    } finally {
      rmSync(h, { recursive: true, force: true });
    }
  });
});

describe('host check and in-cluster config', async () => {
  const { detectRuntime } = await import('../../../src/install/host-check.js');
  const { inClusterConfig } = await import('../../../src/install/kube.js');
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { join, dirname } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const withTree = (files: string[], f: (root: string) => void) => {
    const root = mkdtempSync(join(tmpdir(), 'flox-detect-'));
    try {
      for (const p of files) {
        mkdirSync(dirname(join(root, p)), { recursive: true });
        writeFileSync(join(root, p), '');
      }
      f(root);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };

  it.each([
    [['/etc/containerd/config.toml'], 'containerd'],
    [['/var/lib/rancher/k3s/agent/etc/containerd/config.toml', '/etc/containerd/config.toml'], 'k3s'],
    [['/var/lib/rancher/rke2/agent/etc/containerd/config.toml'], 'rke2'],
    [['/run/crio/crio.sock', '/etc/crio/crio.conf'], 'crio'],
    [['/etc/crio/crio.conf'], 'crio'],
  ])('%j -> %s', (files, kind) => withTree(files, (root) => expect(detectRuntime(root)).toBe(kind)));

  it('refuses to guess on a bare host', () => withTree([], (root) => expect(() => detectRuntime(root)).toThrow(/pass --runtime/)));

  it('reads the service account only when in a cluster', () =>
    withTree(['/sa/token', '/sa/ca.crt'], (root) => {
      writeFileSync(join(root, 'sa/token'), 'tok\n');
      expect(inClusterConfig({}, join(root, 'sa'))).toBeNull();
      expect(inClusterConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, join(root, 'sa'))).toMatchObject({
        baseUrl: 'https://[fd00::1]:6443',
        token: 'tok',
      });
    }));
});
