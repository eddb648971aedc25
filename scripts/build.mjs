// Bundles the runtime: dist/flox-runtime.mjs plus one chunk per path (OCI create/exec, operator
// commands), so a container start reads and compiles only the code it runs instead of
// resolving ~100 modules from node_modules.
import { build } from 'esbuild';
import { cjsBundle } from './esbuild-cjs.mjs';
import { rawText } from './esbuild-raw.mjs';
import { chmodSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
// Build beside dist/ and swap it in, so a process starting from dist/ meanwhile finds either
// the old build or the new one, never a half-written or missing one.
const out = `dist.tmp-${process.pid}`;
const old = `dist.old-${process.pid}`;
await build({
  entryPoints: { 'flox-runtime': 'src/cli/main.ts' },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  legalComments: 'none',
  define: { __FLOX_RUNTIME_VERSION__: JSON.stringify(version) },
  // CommonJS dependencies inside an ESM bundle still call require()
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  plugins: [rawText],
  logLevel: 'warning',
});
// The OCI path once more as one CommonJS file, which main.ts and oci-main.cjs load with a V8
// code cache, and the small CommonJS entry bin/flox-runtime runs for it (no ES module loader).
const cjs = (entry, outfile, extra = {}) =>
  build({ ...cjsBundle, entryPoints: [entry], outfile: `${out}/${outfile}`, ...extra });
await cjs('src/cli/oci-entry.ts', 'oci.cjs', { define: { __FLOX_RUNTIME_VERSION__: JSON.stringify(version) } });
await cjs('src/cli/oci-main.ts', 'oci-main.cjs');
chmodSync(`${out}/flox-runtime.mjs`, 0o755);
if (existsSync('dist')) renameSync('dist', old);
renameSync(out, 'dist');
rmSync(old, { recursive: true, force: true });
