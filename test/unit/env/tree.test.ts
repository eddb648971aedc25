// buildEnv semantics on synthetic store directories (no Nix needed).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expandInputs, planTree, resolveInTree, type TreeNode } from '../../../src/env/tree.js';

let store: string;
beforeEach(() => {
  store = mkdtempSync(join(tmpdir(), 'store-'));
});
afterEach(() => rmSync(store, { recursive: true, force: true }));

let seq = 0;
/** Creates /nix/store/<hash>-name with files {rel: content | {link: target}} in the fake store. */
function pkg(name: string, files: Record<string, string | { link: string }>): string {
  const base = `${String(seq++).padStart(32, '0').replace(/0/g, 'a')}-${name}`.slice(-(33 + name.length));
  const sp = `/nix/store/${base}`;
  for (const [rel, c] of Object.entries(files)) {
    const p = join(store, base, rel);
    mkdirSync(dirname(p), { recursive: true });
    if (typeof c === 'string') writeFileSync(p, c);
    else symlinkSync(c.link, p);
  }
  mkdirSync(join(store, base), { recursive: true });
  return sp;
}

const shape = (t: Map<string, TreeNode>) => Object.fromEntries([...t].map(([k, v]) => [k, v.kind === 'dir' ? 'dir' : v.target]));

describe('planTree', () => {
  it('links a directory only one package has, unfolds shared ones', () => {
    const a = pkg('a', { 'bin/a': 'a', 'share/man/a.1': 'm' });
    const b = pkg('b', { 'bin/b': 'b' });
    const t = planTree(store, [{ storePath: a, priority: 5, origin: 'a' }, { storePath: b, priority: 5, origin: 'b' }]);
    expect(shape(t)).toEqual({ '/bin': 'dir', '/bin/a': `${a}/bin/a`, '/bin/b': `${b}/bin/b`, '/share': `${a}/share` });
  });

  it('lower priority number wins; equal priority conflicts unless contents are identical', () => {
    const a = pkg('a', { 'bin/tool': 'A' });
    const b = pkg('b', { 'bin/tool': 'B' });
    const c = pkg('c', { 'bin/tool': 'A' });
    expect(shape(planTree(store, [{ storePath: b, priority: 3, origin: 'b' }, { storePath: a, priority: 5, origin: 'a' }]))['/bin/tool']).toBe(`${b}/bin/tool`);
    expect(() => planTree(store, [{ storePath: a, priority: 5, origin: 'a' }, { storePath: b, priority: 5, origin: 'b' }])).toThrow(/conflict on bin\/tool: provided by both a and b/);
    expect(shape(planTree(store, [{ storePath: a, priority: 5, origin: 'a' }, { storePath: c, priority: 5, origin: 'c' }]))['/bin/tool']).toBe(`${a}/bin/tool`);
  });

  it('a file against a directory of the same name conflicts at equal priority', () => {
    const a = pkg('a', { 'lib/x': 'file' });
    const b = pkg('b', { 'lib/x/y': 'y' });
    expect(() => planTree(store, [{ storePath: a, priority: 5, origin: 'a' }, { storePath: b, priority: 5, origin: 'b' }])).toThrow(/conflict on lib\/x/);
  });

  it('follows links inside the store when deciding what is a directory', () => {
    const real = pkg('real', { 'share/doc/r': 'r' });
    const a = pkg('a', { share: { link: `${real}/share` } });
    const b = pkg('b', { 'share/doc/b': 'b' });
    const t = planTree(store, [{ storePath: a, priority: 5, origin: 'a' }, { storePath: b, priority: 5, origin: 'b' }]);
    expect(shape(t)).toMatchObject({ '/share': 'dir', '/share/doc': 'dir', '/share/doc/r': `${a}/share/doc/r`, '/share/doc/b': `${b}/share/doc/b` });
  });

  it('never links nix-support, info/dir or reserved names', () => {
    const a = pkg('a', { 'nix-support/setup-hook': 'x', 'share/info/dir': 'd', 'share/info/a.info': 'i', 'activate.d/x': 'no', 'bin/a': 'a' });
    const b = pkg('b', { 'share/info/b.info': 'i' });
    const t = planTree(store, [{ storePath: a, priority: 5, origin: 'a' }, { storePath: b, priority: 5, origin: 'b' }], new Set(['activate.d']));
    expect(Object.keys(shape(t)).sort()).toEqual(['/bin', '/share', '/share/info', '/share/info/a.info', '/share/info/b.info']);
  });

  it('resolveInTree follows store links on the host', () => {
    const a = pkg('a', { 'bin/sh': { link: 'busybox' }, 'bin/busybox': 'bb' });
    const root = join(store, 'root');
    mkdirSync(root);
    symlinkSync(`${a}/bin`, join(root, 'bin'));
    expect(resolveInTree(store, root, 'bin/sh')).toBe(join(store, a.slice('/nix/store/'.length), 'bin/busybox'));
    expect(resolveInTree(store, root, 'bin/none')).toBeUndefined();
  });
});

describe('expandInputs', () => {
  it('run follows propagated-user-env-packages, dev also propagated-build-inputs, recursively; stubs never', () => {
    const leaf = pkg('leaf', { 'bin/leaf': 'l' });
    const stubs = pkg('x-stubs', { 'lib/stubs/s': 's' });
    const dep = pkg('dep', { 'nix-support/propagated-build-inputs': `${leaf} ${stubs}\n` });
    const user = pkg('user', { 'bin/user': 'u' });
    const top = pkg('top', { 'nix-support/propagated-user-env-packages': user, 'nix-support/propagated-build-inputs': dep });
    const roots = [{ storePath: top, priority: 2, origin: 'top' }];
    expect(expandInputs(store, roots, 'run').map((i) => [i.storePath, i.priority])).toEqual([[top, 2], [user, 2]]);
    expect(expandInputs(store, roots, 'dev').map((i) => i.storePath)).toEqual([top, user, dep, leaf]);
  });

  it('a path reached twice keeps its best priority; the result is sorted by priority', () => {
    const shared = pkg('shared', { 'bin/s': 's' });
    const a = pkg('a', { 'nix-support/propagated-user-env-packages': shared });
    const b = pkg('b', { 'bin/b': 'b' });
    const r = expandInputs(store, [{ storePath: a, priority: 7, origin: 'a' }, { storePath: b, priority: 5, origin: 'b' }, { storePath: shared, priority: 1, origin: 's' }], 'run');
    expect(r.map((i) => [i.origin, i.priority])).toEqual([['s', 1], ['b', 5], ['a', 7]]);
  });
});
