// Issue 2 benchmark: container create+start+delete through bin/flox-runtime vs runc directly
// on the same bundle, interleaved; plus what Node costs on the paths that need it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interleave, report, timeSync } from './lib.mjs';

const REPO = new URL('../..', import.meta.url).pathname;
const FRONTEND = join(REPO, 'bin/flox-runtime');

function bundle(dir, annotations) {
  mkdirSync(join(dir, 'rootfs/bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'rootfs/bin/busybox'));
  symlinkSync('busybox', join(dir, 'rootfs/bin/true'));
  spawnSync('runc', ['spec', '--bundle', dir]);
  const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = ['/bin/true'];
  if (annotations) spec.annotations = annotations;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

export async function benchPassthrough({ rounds = Number(process.env.BENCH_ROUNDS ?? 20) } = {}) {
  const work = mkdtempSync(join(tmpdir(), 'bench-pt-'));
  const root = join(work, 'root');
  const config = join(work, 'config.toml');
  writeFileSync(config, '[runtime]\ndelegate = ["runc"]\n[log]\nfile = ""\n');
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', FLOX_RUNTIME_CONFIG: config };
  const plain = bundle(join(work, 'plain'));
  const skipped = bundle(join(work, 'skipped'), {
    'flox.dev/environment': 'acme/tools',
    'flox.dev/skip-containers': 'sidecar',
    'io.kubernetes.cri.container-type': 'container',
    'io.kubernetes.cri.container-name': 'sidecar',
  });
  let n = 0;
  const lifecycle = (bin, b) => () => {
    const id = `bench-${process.pid}-${n++}`;
    const g = ['--root', root, '--log', join(b, 'log.json'), '--log-format', 'json'];
    let ms = timeSync(bin, [...g, 'create', '--bundle', b, '--pid-file', join(b, 'init.pid'), id], { env });
    ms += timeSync(bin, [...g, 'start', id], { env });
    ms += timeSync(bin, [...g, 'delete', '--force', id], { env });
    return ms;
  };
  try {
    const samples = await interleave(
      {
        'runc (baseline)': lifecycle('runc', plain),
        'flox-runtime, no flox annotation': lifecycle(FRONTEND, plain),
        'flox-runtime, via Node (skipped)': lifecycle(FRONTEND, skipped),
      },
      rounds,
    );
    const pt = report('create+start+delete of a busybox container (pass-through target <= 1.05x)', samples, 'runc (baseline)');
    const nodeSamples = await interleave(
      {
        '/bin/true': () => timeSync('/bin/true', [], { env }),
        'node -e 0': () => timeSync(process.execPath, ['-e', '0'], { env }),
        'node dist (operator: version)': () => timeSync(process.execPath, [join(REPO, 'dist/flox-runtime.mjs'), 'version'], { env }),
      },
      rounds,
    );
    report("Node's own start cost", nodeSamples, '/bin/true');
    return pt;
  } finally {
    spawnSync('sh', ['-c', `for c in $(runc --root "$1" list -q 2>/dev/null); do runc --root "$1" delete --force "$c"; done`, 'sh', root]);
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPassthrough();
