// A minimal OCI bundle for real runc: busybox-static as the rootfs, the process given.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BUSYBOX = '/bin/busybox';

export function makeBusyboxRootfs(dir: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(dir, 'bin/busybox'));
  for (const applet of ['sh', 'sleep', 'echo', 'cat', 'env', 'ls', 'id', 'true']) symlinkSync('busybox', join(dir, 'bin', applet));
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(dir, d), { recursive: true });
}

/** `runc spec`, made non-interactive, with our args and annotations. */
export function makeBundle(dir: string, opts: { args: string[]; annotations?: Record<string, string>; env?: string[] }): string {
  mkdirSync(dir, { recursive: true });
  makeBusyboxRootfs(join(dir, 'rootfs'));
  execFileSync('runc', ['spec', '--bundle', dir]);
  const spec = JSON.parse(execFileSync('cat', [join(dir, 'config.json')], { encoding: 'utf8' })) as Record<string, any>;
  spec.process.terminal = false;
  spec.process.args = opts.args;
  spec.process.env = opts.env ?? ['PATH=/bin'];
  spec.root = { path: 'rootfs', readonly: false };
  if (opts.annotations) spec.annotations = opts.annotations;
  // containerd writes config.json as one line
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}
