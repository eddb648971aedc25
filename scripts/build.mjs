// Bundles the runtime: dist/flox-runtime.mjs plus one chunk per path (OCI create/exec, operator
// commands), so a container start reads and compiles only the code it runs instead of
// resolving ~100 modules from node_modules.
import { build } from 'esbuild';
import { chmodSync, readFileSync, rmSync } from 'node:fs';

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: { 'flox-runtime': 'src/cli/main.ts' },
  outdir: 'dist',
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
  logLevel: 'warning',
});
chmodSync('dist/flox-runtime.mjs', 0o755);
