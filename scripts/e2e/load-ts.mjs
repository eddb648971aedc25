// Imports a TypeScript module from plain Node (no tsx here): esbuild bundles it into
// <repo>/.cache/e2e/bundles with node_modules left external, so packages resolve from the
// repo as usual. One bundle per call (pid + random name): safe in parallel.
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { rawText } from '../esbuild-raw.mjs';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `entry` is absolute or relative to the repo root. */
export async function importTs(entry) {
  const src = resolve(repoRoot, entry);
  const outdir = join(repoRoot, '.cache', 'e2e', 'bundles');
  await mkdir(outdir, { recursive: true });
  const out = join(outdir, `${basename(src, '.ts')}-${process.pid}-${randomBytes(4).toString('hex')}.mjs`);
  await build({
    entryPoints: [src],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    plugins: [rawText],
    logLevel: 'warning',
  });
  try {
    return await import(pathToFileURL(out).href);
  } finally {
    await rm(out, { force: true });
  }
}
