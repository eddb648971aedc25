// The esbuild options of every CommonJS bundle of src/ that runs as the runtime's OCI path does
// (dist/oci.cjs, and the node-store benchmark's child): one file, loaded with a V8 code cache.
import { builtinsViaRequire } from './esbuild-builtins.mjs';
import { rawText } from './esbuild-raw.mjs';

export const cjsBundle = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  plugins: [rawText, builtinsViaRequire],
  logLevel: 'warning',
};
