// The real thing: a busybox container created, started, exec'd, killed and deleted by real
// runc through bin/flox-runtime, with the outputs compared to runc's own.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBundle } from '../../support/busybox-bundle.js';
import { requireSystem } from '../../support/gates.js';
import { FRONTEND } from '../../support/paths.js';

const skip = requireSystem({ root: true, commands: ['runc', 'busybox'] });
let work: string;
let root: string;
let config: string;

function call(bin: string, argv: string[]): { status: number | null; stdout: string; stderr: string } {
  // files, not pipes: a created container inherits our stdio and would hold a pipe open
  const out = join(work, `o-${Math.random()}`);
  const err = join(work, `e-${Math.random()}`);
  const o = openSync(out, 'w');
  const e = openSync(err, 'w');
  const r = spawnSync(bin, argv, { stdio: ['ignore', o, e], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', FLOX_RUNTIME_CONFIG: config } });
  closeSync(o);
  closeSync(e);
  return { status: r.status, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
}

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const sleepUntil = async (pred: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
};

beforeAll(() => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'lifecycle-'));
  root = join(work, 'runc-root');
  config = join(work, 'config.toml');
  writeFileSync(config, `[runtime]\ndelegate = ["runc"]\n[log]\nfile = "${join(work, 'runtime.log')}"\n`);
});
afterAll(() => {
  if (skip) return;
  spawnSync('sh', ['-c', `for c in $(runc --root ${root} list -q 2>/dev/null); do runc --root ${root} delete --force $c; done`]);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(skip)('real runc through bin/flox-runtime', () => {
  const lifecycle = (name: string, annotations?: Record<string, string>) =>
    it(`${name}: create, start, state, exec, kill, delete; config.json unchanged`, async () => {
      const id = `life-${name}-${process.pid}`;
      const b = makeBundle(join(work, id), { args: ['sleep', '300'], ...(annotations && { annotations }) });
      const before = sha(join(b, 'config.json'));
      const g = ['--root', root, '--log', join(b, 'log.json'), '--log-format', 'json'];

      expect(call(FRONTEND, [...g, 'create', '--bundle', b, '--pid-file', join(b, 'init.pid'), id])).toMatchObject({ status: 0, stdout: '', stderr: '' });
      expect(sha(join(b, 'config.json'))).toBe(before);
      const created = JSON.parse(call(FRONTEND, [...g, 'state', id]).stdout) as { status: string };
      expect(created.status).toBe('created');
      expect(call(FRONTEND, [...g, 'start', id]).status).toBe(0);

      // state and ps are byte-identical to runc's own
      const viaWrapper = call(FRONTEND, [...g, 'state', id]);
      expect(viaWrapper).toEqual(call('runc', [...g, 'state', id]));
      expect(JSON.parse(viaWrapper.stdout).status).toBe('running');
      expect(call(FRONTEND, [...g, 'ps', '--format', 'json', id])).toEqual(call('runc', [...g, 'ps', '--format', 'json', id]));

      const exec = call(FRONTEND, [...g, 'exec', id, 'sh', '-c', 'echo exec-ok; exit 7']);
      expect(exec).toEqual({ status: 7, stdout: 'exec-ok\n', stderr: '' });

      expect(call(FRONTEND, [...g, 'kill', id, '9']).status).toBe(0);
      await sleepUntil(() => JSON.parse(call('runc', [...g, 'state', id]).stdout).status === 'stopped');
      expect(call(FRONTEND, [...g, 'delete', id]).status).toBe(0);
      expect(existsSync(join(root, id))).toBe(false);
      // a second delete fails exactly as runc's does
      expect(call(FRONTEND, [...g, 'delete', id])).toMatchObject({ status: 1 });
      expect(sha(join(b, 'config.json'))).toBe(before);
    });

  lifecycle('plain');
  // goes through Node (the front end sees an environment) and is skipped there
  lifecycle('skipped', {
    'flox.dev/environment': 'acme/tools',
    'flox.dev/skip-containers': 'sidecar',
    'io.kubernetes.cri.container-type': 'container',
    'io.kubernetes.cri.container-name': 'sidecar',
  });

  it('features is byte-identical to runc; --version is ours, then runc\'s verbatim', () => {
    expect(call(FRONTEND, ['features'])).toEqual(call('runc', ['features']));
    const runc = call('runc', ['--version']);
    const ours = call(FRONTEND, ['--version']);
    expect(ours.status).toBe(0);
    expect(ours.stdout).toMatch(/^flox-runtime version \S+\n/);
    expect(ours.stdout.slice(ours.stdout.indexOf('\n') + 1)).toBe(runc.stdout);
  });
});
