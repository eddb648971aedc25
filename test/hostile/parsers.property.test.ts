// Property-based tests over everything a pod or a remote server controls: annotation values,
// environment names, metadata.json, manifest.toml/.lock, narinfo, store path names. The parsers
// either accept or throw their one declared error type (FloxError, or the floxhub module's own
// error classes that resolveEnvironment turns into FloxError), never anything else, never hang;
// what they accept is safe to use as a path component under the state dir.
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FloxError } from '../../src/errors.js';
import { LockError, parseLockfile } from '../../src/floxhub/lockfile.js';
import { ManifestError, parseManifestToml } from '../../src/floxhub/manifest.js';
import { MetadataError, parseMetadata } from '../../src/floxhub/metadata.js';
import { envCacheDir } from '../../src/floxhub/cache.js';
import { parseCacheInfo, parseNarInfo, parseStoreBasename, parseStorePath } from '../../src/nix/index.js';
import { decide } from '../../src/pod/request.js';
import { parseEnvironmentRef } from '../../src/pod/environment-ref.js';

export const RUNS = Number(process.env.FLOX_PROPERTY_RUNS ?? 400);
const STATE = '/var/lib/flox-runtime';

/** Runs f; it may return or throw `allowed`; anything else (or taking > limitMs) fails. */
function onlyThrows<T>(f: () => T, allowed: abstract new (...a: any[]) => Error, limitMs = 250): T | undefined {
  const t0 = performance.now();
  try {
    return f();
  } catch (e) {
    if (!(e instanceof allowed)) throw new Error(`threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    return undefined;
  } finally {
    const ms = performance.now() - t0;
    if (ms > limitMs) throw new Error(`took ${ms.toFixed(0)} ms`);
  }
}

const inside = (root: string, p: string) => resolve(p) === root || resolve(p).startsWith(`${root}/`);
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom('..', '.', '../..', '/', '//', 'a/../../b', '%2e%2e', '\0', 'a\nb', '$(id)', '`id`', ';rm -rf /', '..\\..', 'a:b:c', ' a/b ', 'HEAD', 'x.lock', '-rf'),
  fc.array(fc.constantFrom('a', '.', '/', ':', '-', '_', '1', '0', '\n', ' ', '$'), { maxLength: 16 }).map((a) => a.join('')),
);

describe('environment names (flox.dev/environment)', () => {
  it('parse or FloxError; what parses is two safe path components inside the state dir', () => {
    fc.assert(
      fc.property(fc.oneof(nasty, fc.tuple(nasty, nasty).map(([a, b]) => `${a}/${b}`), fc.tuple(nasty, nasty, nasty).map(([a, b, c]) => `${a}/${b}:${c}`)), (value) => {
        const ref = onlyThrows(() => parseEnvironmentRef(value), FloxError);
        if (!ref) return;
        for (const part of [ref.owner, ref.name]) {
          expect(part).not.toMatch(/[/\\\0\n:]|\.\.|^\.|^-/);
          expect(part.length).toBeGreaterThan(0);
        }
        const dir = envCacheDir(STATE, 'http://127.0.0.1:1/git', ref.owner, ref.name);
        expect(inside(join(STATE, 'floxhub'), dir)).toBe(true);
        expect(dir.split('/').slice(-2)).toEqual([ref.owner, ref.name]);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('annotations', () => {
  const KEYS = ['flox.dev/environment', 'flox.dev/activate-mode', 'flox.dev/skip-containers', 'flox.dev/skip-containers-exec', 'flox.dev/nix-mutable', 'flox.dev/disable-metrics', 'flox.dev/other', 'io.kubernetes.cri.container-type', 'io.kubernetes.cri.container-name', 'io.kubernetes.cri.sandbox-name', 'io.kubernetes.cri.sandbox-namespace'];
  it('decide() on any annotation map: a decision or a FloxError naming the annotation', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...KEYS), fc.oneof(nasty, fc.constantFrom('true', 'false', 'run', 'dev', 'container', 'sandbox', 'a/b', 'a/b:1'))), (ann) => {
        let err: unknown;
        try {
          decide(ann);
        } catch (e) {
          err = e;
        }
        if (err === undefined) return;
        expect(err).toBeInstanceOf(FloxError);
        expect((err as FloxError).kind).toBe('annotation');
        expect((err as Error).message).toMatch(/flox\.dev\//);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('FloxHub documents', () => {
  const jsonish = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.record({ version: fc.constantFrom(1, 2, 3, '2', null), history: fc.array(fc.record({ current_generation: fc.oneof(fc.integer(), fc.string(), fc.constant(null)) }), { maxLength: 4 }), total_generations: fc.oneof(fc.integer({ min: -5, max: 50 }), fc.double(), fc.constant(1e12)) }, { requiredKeys: [] }),
    fc.record({ currentGen: fc.oneof(fc.integer(), fc.string(), fc.constant(null)), generations: fc.dictionary(fc.oneof(fc.integer({ min: -2, max: 9 }).map(String), fc.string()), fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: [] }),
  );
  it('metadata.json: parsed or MetadataError, quickly, whatever the JSON says (1e12 generations included)', () => {
    fc.assert(
      fc.property(fc.oneof(jsonish.map((j) => JSON.stringify(j)), fc.string({ unit: 'binary', maxLength: 200 })), (text) => {
        const m = onlyThrows(() => parseMetadata(text), MetadataError);
        if (m?.live !== undefined) expect(m.generations.has(m.live)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('manifest.lock: parsed or LockError', () => {
    const pkg = fc.record(
      { install_id: fc.oneof(fc.string(), fc.integer()), system: fc.string(), outputs: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.constant('/nix/store/00000000000000000000000000000000-x'))), attr_path: fc.string(), store_path: fc.oneof(fc.string(), fc.constant('/nix/store/../../etc')), 'locked-url': fc.string(), priority: fc.oneof(fc.integer(), fc.double(), fc.string()) },
      { requiredKeys: [] },
    );
    const lock = fc.record({ 'lockfile-version': fc.constantFrom(0, 1, 2, '1'), packages: fc.oneof(fc.array(pkg, { maxLength: 4 }), fc.jsonValue()), manifest: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(lock.map((l) => JSON.stringify(l)), fc.string({ unit: 'binary', maxLength: 200 })), (text) => {
        const l = onlyThrows(() => parseLockfile(text), LockError);
        for (const p of l?.packages ?? []) for (const sp of Object.values(p.outputs)) expect(() => parseStorePath(sp)).not.toThrow();
      }),
      { numRuns: RUNS },
    );
  });

  it('manifest.toml: parsed or ManifestError', () => {
    const line = fc.oneof(fc.constantFrom('[install]', '[vars]', '[hook]', '[profile]', '[options]', 'version = 1', 'schema-version = "1.10.0"', 'hello.pkg-path = "hello"', "on-activate = '''\ntouch /x\n'''", 'A = "$(id)"', 'systems = ["x86_64-linux"]'), fc.string({ maxLength: 40 }));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }).map((l) => l.join('\n')), (text) => void onlyThrows(() => parseManifestToml(text), ManifestError)),
      { numRuns: RUNS },
    );
  });
});

describe('binary cache documents', () => {
  const HASH = '0'.repeat(32);
  const field = fc.oneof(
    fc.tuple(fc.constantFrom('StorePath', 'URL', 'Compression', 'FileHash', 'FileSize', 'NarHash', 'NarSize', 'References', 'Deriver', 'Sig', 'CA', 'System', 'Junk'), fc.oneof(nasty, fc.constantFrom(`/nix/store/${HASH}-x`, 'sha256:' + '1'.repeat(52), '12', '-1', '1e400', 'xz', `${HASH}-a ${HASH}-b`, `/nix/store/${HASH}-../../etc`, 'nar/../../x.nar'))).map(([k, v]) => `${k}: ${v}`),
    fc.string({ maxLength: 60 }),
  );
  it('narinfo: parsed or FloxError; an accepted one names a valid store path and valid references', () => {
    fc.assert(
      fc.property(fc.array(field, { maxLength: 14 }).map((l) => l.join('\n')), (text) => {
        const info = onlyThrows(() => parseNarInfo(text), FloxError);
        if (!info) return;
        expect(() => parseStorePath(info.storePath)).not.toThrow();
        for (const r of info.references) expect(() => parseStoreBasename(r)).not.toThrow();
        expect(info.url).not.toMatch(/^\/|(^|\/)\.\.(\/|$)|^[a-z]+:/i);
      }),
      { numRuns: RUNS },
    );
  });

  it('nix-cache-info: parsed or FloxError', () => {
    fc.assert(fc.property(fc.array(field, { maxLength: 6 }).map((l) => l.join('\n')), (text) => void onlyThrows(() => parseCacheInfo(text), FloxError)), { numRuns: RUNS });
  });

  it('store path names: accepted ones are one path component, never ".", ".." or hidden', () => {
    fc.assert(
      fc.property(fc.oneof(nasty.map((s) => `${HASH}-${s}`), nasty), (b) => {
        const sp = onlyThrows(() => parseStoreBasename(b), FloxError);
        if (!sp) return;
        expect(sp.basename).not.toMatch(/[/\0]/);
        expect(sp.name.startsWith('.')).toBe(false);
        expect(resolve('/s', sp.basename)).toBe(`/s/${sp.basename}`);
      }),
      { numRuns: RUNS },
    );
  });
});
