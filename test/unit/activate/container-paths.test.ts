import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveInView } from '../../../src/activate/container-paths.js';
import { podTokenFileFromMounts } from '../../../src/floxhub/token.js';

const podTokenFile = (spec: { mounts: Array<{ destination: string; source: string; type: string }> }) => podTokenFileFromMounts(spec.mounts);

describe('resolveInView', () => {
  const t = mkdtempSync(join(tmpdir(), 'view-'));
  const rootfs = join(t, 'rootfs');
  const store = join(t, 'store');
  const env = join(t, 'env');
  mkdirSync(join(rootfs, 'usr/bin'), { recursive: true });
  symlinkSync('usr/bin', join(rootfs, 'bin')); // merged /usr
  writeFileSync(join(rootfs, 'usr/bin/dash'), '');
  symlinkSync('dash', join(rootfs, 'usr/bin/sh'));
  symlinkSync('/etc/passwd', join(rootfs, 'usr/bin/escape')); // absolute: must stay in the view
  mkdirSync(join(store, 'aaa-busybox/bin'), { recursive: true });
  writeFileSync(join(store, 'aaa-busybox/bin/busybox'), '');
  symlinkSync('busybox', join(store, 'aaa-busybox/bin/sh'));
  mkdirSync(env);
  symlinkSync('/nix/store/aaa-busybox/bin', join(env, 'bin')); // buildEnv collapses a lone bin/
  const view = [
    { containerPrefix: '/', hostDir: rootfs },
    { containerPrefix: '/nix/store', hostDir: store },
    { containerPrefix: '/run/flox/env', hostDir: env },
  ];

  it('follows relative links inside the rootfs', () => {
    expect(resolveInView(view, '/bin/sh')).toBe(join(rootfs, 'usr/bin/dash'));
  });
  it('follows the environment into the node store', () => {
    expect(resolveInView(view, '/run/flox/env/bin/sh')).toBe(join(store, 'aaa-busybox/bin/busybox'));
  });
  it('never follows an absolute link onto the host', () => {
    expect(resolveInView(view, '/usr/bin/escape')).toBeUndefined();
  });
  it('reports what is missing', () => {
    expect(resolveInView([{ containerPrefix: '/', hostDir: join(t, 'empty') }], '/bin/sh')).toBeUndefined();
    expect(resolveInView(view, '/usr/bin/env')).toBeUndefined();
  });
});

describe('podTokenFile', () => {
  it('reads the secret through the mount source, as a directory or a subPath file', () => {
    expect(podTokenFile({ mounts: [{ destination: '/var/run/secrets/flox.dev', source: '/var/lib/kubelet/pods/u/volumes/kubernetes.io~secret/t', type: 'bind' }] })).toEqual({
      dir: '/var/lib/kubelet/pods/u/volumes/kubernetes.io~secret/t',
      key: 'floxhub-token',
    });
    expect(podTokenFile({ mounts: [{ destination: '/var/run/secrets/flox.dev/floxhub-token', source: '/k/file', type: 'bind' }] })).toEqual({ file: '/k/file' });
    expect(podTokenFile({ mounts: [{ destination: '/var/run/secrets/other', source: '/k', type: 'bind' }] })).toBeUndefined();
    expect(podTokenFile({ mounts: [{ destination: '/var/run/secrets/flox.dev', source: 'relative', type: 'bind' }] })).toBeUndefined();
  });
});
