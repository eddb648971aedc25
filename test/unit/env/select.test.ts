import { describe, expect, it } from 'vitest';
import { selectPackages, storePathsOf } from '../../../src/env/select.js';
import { FloxError } from '../../../src/errors.js';
import { parseLockfile } from '../../../src/floxhub/lockfile.js';
import { parseManifestToml } from '../../../src/floxhub/manifest.js';

const P = (c: string, n: string) => `/nix/store/${c.repeat(32)}-${n}`;
const lib = {
  attr_path: 'lib', install_id: 'lib', system: 'x86_64-linux', priority: 5,
  outputs: { out: P('a', 'lib'), dev: P('b', 'lib-dev'), man: P('c', 'lib-man'), stubs: P('d', 'lib-stubs') },
  outputs_to_install: ['out', 'man'],
};
const other = { ...lib, system: 'aarch64-linux', outputs: { out: P('f', 'lib') } };
const lockOf = (...packages: unknown[]) => parseLockfile(JSON.stringify({ 'lockfile-version': 1, packages }));
const outs = (toml: string, ...packages: unknown[]) =>
  selectPackages({ manifest: parseManifestToml(toml), lock: lockOf(...packages) }, 'x86_64-linux').packages.map((p) => p.outputs.map((o) => o.output));

describe('output selection', () => {
  it('version = 1: every output but stubs', () => {
    expect(outs('version = 1\n[install]\nlib.pkg-path = "lib"\n', lib)).toEqual([['dev', 'man', 'out']]);
  });
  it('schema-version: outputs_to_install by default', () => {
    expect(outs('schema-version = "1.10.0"\n[install]\nlib.pkg-path = "lib"\n', lib)).toEqual([['out', 'man']]);
  });
  it('schema-version: the descriptor list, or "all" (stubs included)', () => {
    expect(outs('schema-version = "1.10.0"\n[install]\nlib.pkg-path = "lib"\nlib.outputs = ["dev"]\n', lib)).toEqual([['dev']]);
    expect(outs('schema-version = "1.10.0"\n[install]\nlib.pkg-path = "lib"\nlib.outputs = "all"\n', lib)).toEqual([['dev', 'man', 'out', 'stubs']]);
  });
  it('an output the lock does not have is a lock error', () => {
    expect(() => outs('schema-version = "1.10.0"\n[install]\nlib.pkg-path = "lib"\nlib.outputs = ["doc"]\n', lib)).toThrow(/no output "doc"/);
  });
  it('only entries for the node system; paths once each', () => {
    const s = selectPackages({ manifest: parseManifestToml('version = 1\n'), lock: lockOf(lib, other, { ...lib, install_id: 'again' }) }, 'x86_64-linux');
    expect(s.packages.map((p) => p.installId)).toEqual(['lib', 'again']);
    expect(storePathsOf(s)).toEqual([P('b', 'lib-dev'), P('c', 'lib-man'), P('a', 'lib')]);
  });
  it('a lock for other systems only, or options.systems without this one, is an error', () => {
    const run = (toml: string, ...p: unknown[]) => () => selectPackages({ manifest: parseManifestToml(toml), lock: lockOf(...p), description: 'o/n', generation: 2 }, 'x86_64-linux');
    expect(run('version = 1\n', other)).toThrow(FloxError);
    expect(run('version = 1\n', other)).toThrow(/o\/n:2 is locked for aarch64-linux only, not for this node's system x86_64-linux/);
    expect(run('version = 1\n[options]\nsystems = ["aarch64-darwin"]\n')).toThrow(/aarch64-darwin only/);
    // an empty environment is fine
    expect(selectPackages({ manifest: parseManifestToml('version = 1\n'), lock: lockOf() }, 'x86_64-linux').packages).toEqual([]);
  });
});
