// The CommonJS bundles of the container path run inside a V8-cached vm.Script, where a dynamic
// import() throws once the script comes from the cache. The build turns dynamic imports of
// built-ins (node:tls for an https substituter or hub, node:zlib for gzip/br caches) into
// require(): checked here on a small bundle loaded twice (the second time from the cache), and
// on dist/ itself.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
// @ts-expect-error a plain .mjs helper without types
import { builtinsViaRequire } from '../../../scripts/esbuild-builtins.mjs';
import { REPO } from '../../support/paths.js';

async function bundle(dir: string, plugins: unknown[]): Promise<string> {
  const entry = join(dir, 'entry.ts');
  writeFileSync(entry, "export const run = () => import('node:zlib').then((z) => typeof z.gunzipSync);\n");
  const out = join(dir, 'bundle.cjs');
  await build({ entryPoints: [entry], outfile: out, bundle: true, platform: 'node', format: 'cjs', logLevel: 'error', plugins: plugins as never });
  return out;
}

/** Loads `file` through loadWithCodeCache in a fresh Node and runs its run(). */
function loadAndRun(file: string): string {
  const loader = join(REPO, 'src/cli/code-cache.ts');
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'data:text/javascript,',
      '-e',
      `import('${join(REPO, 'node_modules/esbuild/lib/main.js')}').then(async (esb) => {
        const out = '${file}.loader.mjs';
        await esb.build({ entryPoints: ['${loader}'], outfile: out, bundle: true, platform: 'node', format: 'esm', logLevel: 'error' });
        const { loadWithCodeCache } = await import(out);
        const m = loadWithCodeCache('${file}');
        process.stdout.write(await m.run().catch((e) => 'error: ' + e.message));
      })`,
    ],
    { encoding: 'utf8' },
  );
  return r.stdout + r.stderr;
}

describe('dynamic imports of built-ins in code-cached bundles', () => {
  it('work on the first run and on runs from the cache', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flox-builtins-'));
    const file = await bundle(dir, [builtinsViaRequire]);
    expect(loadAndRun(file)).toBe('function');
    expect(existsSync(`${file}.v8cache`)).toBe(true);
    expect(loadAndRun(file)).toBe('function');
  });

  it('(without the plugin the cached run fails: what the plugin is for)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flox-builtins-'));
    const file = await bundle(dir, []);
    loadAndRun(file);
    expect(loadAndRun(file)).toMatch(/dynamic import callback/);
  });

  it('dist/oci.cjs and dist/oci-main.cjs import no built-in dynamically', () => {
    for (const f of ['dist/oci.cjs', 'dist/oci-main.cjs']) {
      const text = readFileSync(join(REPO, f), 'utf8');
      expect(text.match(/import\(["']node:[^"']+["']\)/g) ?? [], f).toEqual([]);
    }
  });
});
