// Bundles test/support/nix-child.ts into one .mjs with esbuild (as scripts/build.mjs does for the
// CLI), so child processes start in ~50 ms instead of going through a TS loader.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
// @ts-expect-error a plain .mjs helper without types
import { rawText } from '../../scripts/esbuild-raw.mjs';
import { REPO } from './nixcache.js';

let built: Promise<string> | undefined;

export function nixChildBundle(): Promise<string> {
  built ??= (async () => {
    const dir = join(REPO, '.cache/nix-child');
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, `nix-child-${process.pid}.mjs`);
    await build({
      entryPoints: [join(REPO, 'test/support/nix-child.ts')],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      plugins: [rawText],
      logLevel: 'warning',
    });
    process.once('exit', () => rmSync(outfile, { force: true }));
    return outfile;
  })();
  return built;
}
