// Loads a CommonJS bundle through vm.Script with V8's code cache kept beside it. Compiling the
// ~400 KB OCI path is most of what Node spends before a container start; with the cache V8
// deserializes code compiled on an earlier run instead. The cache is best effort: written once
// (atomically) after a run that had none or had it rejected (another Node or V8 flags), and a
// missing, stale or unwritable cache only costs the compile it would have saved.
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

export interface CodeCacheOptions {
  /** asked at exit: may this run write the cache (none yet, or the old one rejected)? default yes */
  writeWhen?: () => boolean;
}

export function loadWithCodeCache<T>(file: string, opts: CodeCacheOptions = {}): T {
  const cacheFile = `${file}.v8cache`;
  const source = readFileSync(file, 'utf8');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // first run, or no cache wanted
  }
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new Script(wrapped, { filename: file, ...(cachedData && { cachedData }) });
  const mod = { exports: {} as T };
  const fn = script.runInThisContext() as (e: unknown, r: NodeJS.Require, m: unknown, f: string, d: string) => void;
  fn(mod.exports, createRequire(file), mod, file, dirname(file));
  if (!cachedData || script.cachedDataRejected) {
    // after the run, so the functions it compiled lazily are in the cache too
    process.once('exit', () => {
      if (opts.writeWhen && !opts.writeWhen()) return;
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, script.createCachedData(), { mode: 0o644 });
        renameSync(tmp, cacheFile);
      } catch {
        try {
          unlinkSync(tmp);
        } catch {
          // nothing written
        }
      }
    });
  }
  return mod.exports;
}
