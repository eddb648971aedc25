import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../../support/paths.js';

// Runs the loader in a fresh Node, as main.ts does, on a small CommonJS bundle.
function load(file: string, writeWhen = 'undefined'): { out: string; status: number | null } {
  const loader = join(REPO, 'src/cli/code-cache.ts');
  const r = spawnSync(
    process.execPath,
    ['--import', 'data:text/javascript,', '-e', `import('${join(REPO, 'node_modules/esbuild/lib/main.js')}').then(async (esb) => {
      const out = '${file}.loader.mjs';
      await esb.build({ entryPoints: ['${loader}'], outfile: out, bundle: true, platform: 'node', format: 'esm', logLevel: 'error' });
      const { loadWithCodeCache } = await import(out);
      const m = loadWithCodeCache('${file}', { writeWhen: ${writeWhen} });
      process.stdout.write(String(m.answer()));
    })`],
    { encoding: 'utf8' },
  );
  return { out: r.stdout + r.stderr, status: r.status };
}

describe('loadWithCodeCache', () => {
  it('writes the cache only from a run its writeWhen accepts (a warm activation)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'v8cache-'));
    const file = join(dir, 'mod.cjs');
    writeFileSync(file, 'exports.answer = () => 42;');
    expect(load(file, '() => false')).toEqual({ out: '42', status: 0 });
    expect(existsSync(`${file}.v8cache`)).toBe(false);
    expect(load(file, '() => true')).toEqual({ out: '42', status: 0 });
    expect(existsSync(`${file}.v8cache`)).toBe(true);
  });

  it('runs the bundle, writes a V8 code cache once, and survives a corrupt cache', () => {
    const dir = mkdtempSync(join(tmpdir(), 'v8cache-'));
    const file = join(dir, 'mod.cjs');
    writeFileSync(file, 'const path = require("node:path"); exports.answer = () => 40 + path.basename(__filename).length - 5;');
    expect(load(file)).toEqual({ out: '42', status: 0 });
    expect(existsSync(`${file}.v8cache`)).toBe(true);
    const first = readFileSync(`${file}.v8cache`);
    expect(first.length).toBeGreaterThan(0);
    expect(load(file)).toEqual({ out: '42', status: 0 });
    writeFileSync(`${file}.v8cache`, Buffer.from('not a code cache'));
    expect(load(file)).toEqual({ out: '42', status: 0 });
    // a rejected cache is replaced by a good one
    expect(readFileSync(`${file}.v8cache`).toString()).not.toBe('not a code cache');
  });
});
