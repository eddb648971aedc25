// buildEnv semantics on synthetic store directories (no Nix needed), and links that leave the
// store, which the builder must never follow on the host.
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

describe('links that leave the store', () => {
  // a host directory the attacker wants listed (think /var/lib/kubelet/pods) and a host file
  // whose content they want to test a guess against
  let host: string;
  beforeEach(() => {
    host = mkdtempSync(join(tmpdir(), 'host-'));
    mkdirSync(join(host, 'pods/11111111-pod-uid-of-another-tenant'), { recursive: true });
    writeFileSync(join(host, 'pods/secret-marker'), 'x');
    writeFileSync(join(host, 'secret'), 'TOPSECRET');
  });
  afterEach(() => rmSync(host, { recursive: true, force: true }));
  /** a relative target with more `..` than the store is deep: the host root, then `p` */
  const up = (p: string) => `${'../'.repeat(40)}${p.slice(1)}`;
  const keys = (t: Map<string, TreeNode>) => [...t.keys()].join(' ');

  it('a relative link out of the store is a plain link: the host directory is never listed into the profile', () => {
    const a = pkg('a', { share: { link: up(join(host, 'pods')) } });
    const b = pkg('b', { 'share/doc/b': 'b' });
    const t = planTree(store, [{ storePath: a, priority: 5, origin: 'a' }, { storePath: b, priority: 6, origin: 'b' }]);
    expect(keys(t)).not.toMatch(/pod-uid|secret-marker/);
    // like a dangling link in Nix's sandbox: a file, so a wins the clash on share by priority
    expect(shape(t)).toEqual({ '/share': `${a}/share` });
  });

  it('an absolute link out of the store, or through a store link that leaves it, is not followed either', () => {
    const hop = pkg('hop', { up: { link: up('/') } });
    const a = pkg('a', { etc: { link: '/etc' }, lib: { link: `${hop}/up${join(host, 'pods')}` } });
    const b = pkg('b', { 'etc/b': 'b', 'lib/b': 'b' });
    const t = planTree(store, [{ storePath: a, priority: 5, origin: 'a' }, { storePath: b, priority: 6, origin: 'b' }]);
    expect(keys(t)).not.toMatch(/pod-uid|secret-marker|passwd|hostname/);
    expect(shape(t)).toEqual({ '/etc': `${a}/etc`, '/lib': `${a}/lib` });
  });

  it('a link to a host file is never compared with a package file: no oracle for the host file\'s content', () => {
    const a = pkg('a', { 'bin/x': { link: up(join(host, 'secret')) } });
    const right = pkg('right', { 'bin/x': 'TOPSECRET' });
    const wrong = pkg('wrong', { 'bin/x': 'guess' });
    const plan = (guess: string) => () => planTree(store, [{ storePath: a, priority: 5, origin: 'a' }, { storePath: guess, priority: 5, origin: 'g' }]);
    // the right guess and the wrong one answer the same
    expect(plan(right)).toThrow(/conflict on bin\/x/);
    expect(plan(wrong)).toThrow(/conflict on bin\/x/);
  });

  it('propagated paths must be plain store paths: `/nix/store/../..` in nix-support is ignored', () => {
    const name = `${'1'.repeat(32)}-evil`;
    mkdirSync(join(host, name, 'bin'), { recursive: true });
    writeFileSync(join(host, name, 'bin/secret-marker'), 'x');
    const top = pkg('top', { 'nix-support/propagated-user-env-packages': `/nix/store/${'../'.repeat(40)}${host.slice(1)}/${name}` });
    const inputs = expandInputs(store, [{ storePath: top, priority: 5, origin: 'top' }], 'run');
    expect(inputs.map((i) => i.storePath)).toEqual([top]);
  });

  it('resolveInTree resolves like the container: a link out of the store resolves to nothing', () => {
    const a = pkg('a', { etc: { link: up(host) } });
    const root = join(store, 'root');
    mkdirSync(root);
    symlinkSync(`${a}/etc`, join(root, 'etc'));
    expect(resolveInTree(store, root, 'etc/pods')).toBeUndefined();
    expect(resolveInTree(store, root, 'etc/secret')).toBeUndefined();
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
