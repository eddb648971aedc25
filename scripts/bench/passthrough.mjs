// Issue 2 benchmark: container create+start+delete through bin/flox-runtime vs runc directly
// on the same bundle, interleaved; plus what Node costs on the paths that need it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { rawText } from '../esbuild-raw.mjs';
import { readdirSync } from 'node:fs';
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

async function altBuilds(work) {
  const common = { platform: 'node', format: 'esm', target: 'node20', logLevel: 'error' };
  const banner = { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" };
  const single = join(REPO, '.cache/bench/single/flox-runtime.mjs');
  await build({ ...common, entryPoints: [join(REPO, 'src/cli/main.ts')], outfile: single, bundle: true, minifyWhitespace: true, minifySyntax: true, banner, plugins: [rawText] });
  // unbundled: every module its own file, packages from node_modules (inside the repo so they resolve)
  const outdir = join(REPO, '.cache/bench/unbundled');
  const files = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.ts')) files.push(join(d, e.name));
    }
  };
  walk(join(REPO, 'src'));
  await build({ ...common, entryPoints: files, outdir, outbase: join(REPO, 'src'), bundle: false, define: { __FLOX_RUNTIME_VERSION__: '"bench"' } });
  void work;
  return { single, unbundled: join(outdir, 'cli/main.js') };
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
    // The Node side of a create (a skipped container: load config, spec, decide, spawn the
    // delegate) in three builds: how we ship it (entry + per-path chunks), one bundled file,
    // and unbundled modules resolved from node_modules at run time.
    const alt = await altBuilds(work);
    const fakeRunc = join(work, 'true-runc');
    writeFileSync(fakeRunc, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const cfg2 = join(work, 'config2.toml');
    writeFileSync(cfg2, `[runtime]\ndelegate = ["${fakeRunc}"]\n[log]\nfile = ""\n`);
    const env2 = { ...env, FLOX_RUNTIME_CONFIG: cfg2 };
    const createVia = (entry) => () => timeSync(process.execPath, [entry, 'create', '--bundle', skipped, 'x'], { env: env2 });
    const nodeSamples = await interleave(
      {
        'node -e 0 (baseline)': () => timeSync(process.execPath, ['-e', '0'], { env }),
        'create: dist (entry + chunks)': createVia(join(REPO, 'dist/flox-runtime.mjs')),
        'create: one bundled file': createVia(alt.single),
        'create: unbundled modules': createVia(alt.unbundled),
      },
      rounds,
    );
    report("Node's own cost on the create path (skipped container, delegate /bin/true)", nodeSamples, 'node -e 0 (baseline)');
    return pt;
  } finally {
    spawnSync('sh', ['-c', `for c in $(runc --root "$1" list -q 2>/dev/null); do runc --root "$1" delete --force "$c"; done`, 'sh', root]);
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPassthrough();
