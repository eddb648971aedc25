// metadata.json, manifest.toml and manifest.lock as FloxHub stores them.
import { describe, expect, it } from 'vitest';
import { LockError, parseLockfile } from '../../../src/floxhub/lockfile.js';
import { ManifestError, isLegacyManifest, parseManifestToml } from '../../../src/floxhub/manifest.js';
import { MetadataError, parseMetadata } from '../../../src/floxhub/metadata.js';

const entry = (gen: string, prev: string | null, kind = 'install') => ({
  info: { kind, targets: ['x'] },
  author: 'a',
  hostname: 'h',
  timestamp: 1,
  current_generation: gen,
  previous_generation: prev,
});

describe('metadata.json', () => {
  it('v2: the live generation is the last history entry, not the highest', () => {
    const m = parseMetadata(JSON.stringify({ version: 2, total_generations: 3, history: [entry('1', null), entry('2', '1'), entry('3', '2'), entry('1', '3', 'switch_generation')] }));
    expect(m).toEqual({ formatVersion: 2, live: 1, generations: new Set([1, 2, 3]) });
  });
  it('v2: unknown kinds and extra fields are fine; a flattened kind too', () => {
    const m = parseMetadata(JSON.stringify({ version: 2, total_generations: 1, extra: true, history: [{ kind: 'future_kind', current_generation: '1', previous_generation: null, later: 1 }] }));
    expect(m.live).toBe(1);
  });
  it('v2 without history has no live generation', () => {
    expect(parseMetadata('{"version":2,"total_generations":0,"history":[]}').live).toBeUndefined();
  });
  it('v1 camelCase form', () => {
    const m = parseMetadata(JSON.stringify({ version: 1, currentGen: '2', generations: { '1': { created: 1, lastActive: 2, description: 'a' }, '2': { created: 3, lastActive: null, description: 'b' } } }));
    expect(m).toEqual({ formatVersion: 1, live: 2, generations: new Set([1, 2]) });
    // version is optional in v1
    expect(parseMetadata('{"currentGen":"1","generations":{"1":{}}}').live).toBe(1);
  });
  it.each([
    ['not json', '{', /not JSON/],
    ['unknown version', '{"version":3}', /unsupported version 3/],
    ['history not a list', '{"version":2,"history":"x","total_generations":1}', /v2\) is invalid: history/],
    ['live beyond total', JSON.stringify({ version: 2, total_generations: 1, history: [entry('2', '1')] }), /live generation 2 but has only 1/],
    ['bad generation id', JSON.stringify({ version: 2, total_generations: 1, history: [entry('x', null)] }), /current_generation/],
    ['v1 current not listed', '{"currentGen":"3","generations":{"1":{}}}', /does not list/],
  ])('rejects %s', (_n, text, re) => {
    expect(() => parseMetadata(text)).toThrow(MetadataError);
    expect(() => parseMetadata(text)).toThrow(re);
  });
});

describe('manifest.toml', () => {
  it('legacy and schema-version forms', () => {
    expect(isLegacyManifest(parseManifestToml('version = 1\n'))).toBe(true);
    const m = parseManifestToml('schema-version = "1.10.0"\n[install]\na.pkg-path = "a"\na.outputs = ["out","man"]\nb.pkg-path = "b"\nb.outputs = "all"\n[vars]\nX = "1"\n[hook]\non-activate = "echo"\n[services.s]\ncommand = "x"\n');
    expect(isLegacyManifest(m)).toBe(false);
    expect(m.install.a!.outputs).toEqual(['out', 'man']);
    expect(m.install.b!.outputs).toBe('all');
    expect(m.vars).toEqual({ X: '1' });
  });
  it.each([
    ['not TOML', '[install\n', /not valid TOML/],
    ['no version', '[install]\n', /needs `version = 1` or `schema-version/],
    ['bad var name', 'version = 1\n[vars]\n"A-B" = "x"\n', /vars/],
    ['BASH_ENVTRACE var', 'version = 1\n[vars]\nBASH_ENVTRACE_X = "x"\n', /BASH_ENVTRACE/],
    ['non-string var', 'version = 1\n[vars]\nX = 1\n', /vars\.X/],
  ])('rejects %s', (_n, text, re) => {
    expect(() => parseManifestToml(text)).toThrow(ManifestError);
    expect(() => parseManifestToml(text)).toThrow(re);
  });
});

const P = (h: string, n: string) => `/nix/store/${h.repeat(32)}-${n}`;

describe('manifest.lock', () => {
  const catalog = { attr_path: 'hello', install_id: 'hello', system: 'x86_64-linux', outputs: { out: P('a', 'hello-1'), man: P('b', 'hello-1-man') }, outputs_to_install: ['out'], priority: 5, name: 'hello-1' };
  const flake = { install_id: 'f', system: 'x86_64-linux', outputs: { out: P('c', 'f-1') }, 'locked-url': 'git+https://x', 'outputs-to-install': ['out'], priority: 3 };
  const sp = { install_id: 's', store_path: P('d', 's'), system: 'aarch64-linux', priority: 5 };

  it('catalog, flake and store-path entries', () => {
    const l = parseLockfile(JSON.stringify({ 'lockfile-version': 1, manifest: { version: 1 }, packages: [catalog, flake, sp] }));
    expect(l.packages.map((p) => [p.kind, p.installId, p.system, p.priority])).toEqual([
      ['catalog', 'hello', 'x86_64-linux', 5],
      ['flake', 'f', 'x86_64-linux', 3],
      ['store-path', 's', 'aarch64-linux', 5],
    ]);
    expect(l.packages[2]!.outputs).toEqual({ out: sp.store_path });
    expect(l.manifest?.version).toBe(1);
  });
  it('priority defaults to 5', () => {
    const { priority: _p, ...noPrio } = catalog;
    expect(parseLockfile(JSON.stringify({ 'lockfile-version': 1, packages: [noPrio] })).packages[0]!.priority).toBe(5);
  });
  it.each([
    ['not JSON', 'x', /not JSON/],
    ['version 2', '{"lockfile-version":2,"packages":[]}', /lockfile-version 2; only version 1/],
    ['no packages', '{"lockfile-version":1}', /packages/],
    ['unknown entry', JSON.stringify({ 'lockfile-version': 1, packages: [{ install_id: 'z', system: 'x' }] }), /package #0 \(z\) is not a valid catalog, flake or store-path entry: it has none/],
    ['path outside the store', JSON.stringify({ 'lockfile-version': 1, packages: [{ ...catalog, outputs: { out: '/usr/bin' } }] }), /package #0 \(hello\) is not a valid catalog.*outputs\.out/],
    ['bad embedded manifest', JSON.stringify({ 'lockfile-version': 1, manifest: { install: {} }, packages: [] }), /manifest/],
  ])('rejects %s', (_n, text, re) => {
    expect(() => parseLockfile(text)).toThrow(LockError);
    expect(() => parseLockfile(text)).toThrow(re);
  });
});
