// The profile as a symlink tree, the way nixpkgs' buildEnv (and Flox's builder.pl) make it:
// a directory only one package provides becomes one symlink to it; a directory several provide
// is "unfolded" into a real directory of links; a file two packages provide is a conflict that
// the lower priority number wins, an error when priorities are equal and contents differ.
// Links point at /nix/store/... (valid inside the container); contents are read on the host
// from storeDir/<hash>-<name>.
import { lstatSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { FloxError } from '../errors.js';

export const STORE = '/nix/store';

export interface TreeInput {
  storePath: string;
  priority: number;
  /** who asked for it, for conflict messages: install id, or "propagated by X" */
  origin: string;
}

export type TreeNode =
  | { kind: 'dir' }
  | { kind: 'link'; target: string; host: string; isDir: boolean; priority: number; origin: string };

/** Host path of a container path under /nix/store; undefined for paths outside the store. */
export function hostPathOf(storeDir: string, p: string): string | undefined {
  if (p === STORE || p.startsWith(`${STORE}/`)) return storeDir + p.slice(STORE.length);
  return undefined;
}

/** Resolves symlinks on the host as the container would see them (store links mapped to storeDir). */
export function resolveHost(storeDir: string, host: string): string | undefined {
  let p = host;
  for (let hops = 0; hops < 40; hops++) {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return undefined;
    }
    if (!st.isSymbolicLink()) return p;
    const t = readlinkSync(p);
    if (posix.isAbsolute(t)) {
      const mapped = hostPathOf(storeDir, posix.normalize(t));
      if (mapped === undefined) return undefined; // points outside the store: not followable here
      p = mapped;
    } else p = join(dirname(p), t);
  }
  return undefined;
}

function isDirOnHost(storeDir: string, host: string): { dir: boolean; real?: string } {
  const real = resolveHost(storeDir, host);
  if (!real) return { dir: false };
  try {
    return { dir: statSync(real).isDirectory(), real };
  } catch {
    return { dir: false };
  }
}

// what buildEnv never links (nixpkgs builder.pl's findFiles)
function skipped(rel: string): boolean {
  return (
    rel === '/nix-support' ||
    rel === '/propagated-build-inputs' ||
    /\/info\/dir$/.test(rel) ||
    (rel.startsWith('/share/mime/') && !rel.startsWith('/share/mime/packages')) ||
    posix.basename(rel) === 'perllocal.pod'
  );
}

function sameContent(storeDir: string, a: string, b: string): boolean {
  const ra = resolveHost(storeDir, a);
  const rb = resolveHost(storeDir, b);
  if (!ra || !rb) return false;
  if (ra === rb) return true;
  try {
    const sa = statSync(ra);
    const sb = statSync(rb);
    if (!sa.isFile() || !sb.isFile() || sa.size !== sb.size || (sa.mode & 0o111) !== (sb.mode & 0o111)) return false;
    return readFileSync(ra).equals(readFileSync(rb));
  } catch {
    return false;
  }
}

/**
 * Plans the merged tree: relative path ("/bin/hello") -> node. Inputs must already be in
 * processing order (ascending priority, then lock order); reserved top-level names are skipped.
 */
export function planTree(storeDir: string, inputs: TreeInput[], reserved: Set<string> = new Set()): Map<string, TreeNode> {
  const tree = new Map<string, TreeNode>();

  const add = (rel: string, hostDir: string, target: string, priority: number, origin: string) => {
    let names: string[];
    try {
      names = readdirSync(hostDir).sort();
    } catch (e) {
      throw new FloxError('render', `cannot read ${hostDir} (${(e as Error).message}); is the store path realised on this node?`);
    }
    for (const n of names) {
      const r = `${rel}/${n}`;
      if (skipped(r) || (rel === '' && reserved.has(n))) continue;
      const host = join(hostDir, n);
      const { dir, real } = isDirOnHost(storeDir, host);
      const node: TreeNode = { kind: 'link', target: `${target}/${n}`, host: dir && real ? real : host, isDir: dir, priority, origin };
      const old = tree.get(r);
      if (!old) {
        tree.set(r, node);
        continue;
      }
      if (old.kind === 'dir' && dir) {
        add(r, node.host, node.target, priority, origin);
        continue;
      }
      if (old.kind === 'link' && old.isDir && dir) {
        tree.set(r, { kind: 'dir' }); // unfold
        add(r, old.host, old.target, old.priority, old.origin);
        add(r, node.host, node.target, priority, origin);
        continue;
      }
      // a file (or a file/directory clash) provided twice
      if (old.kind === 'link' && !old.isDir && !dir && sameContent(storeDir, old.host, host)) continue;
      const oldPriority = old.kind === 'link' ? old.priority : minPriorityUnder(tree, r);
      if (oldPriority < priority) continue; // lower number wins; inputs come in ascending order
      const oldOrigin = old.kind === 'link' ? old.origin : 'another package';
      throw new FloxError(
        'render',
        `file conflict on ${r.slice(1)}: provided by both ${oldOrigin} and ${origin}, with the same priority ${priority}; give one of them a lower \`priority\` in the manifest (lower wins) and push`,
      );
    }
  };

  for (const input of inputs) {
    const host = hostPathOf(storeDir, input.storePath);
    if (!host) throw new FloxError('render', `not a store path: ${input.storePath}`);
    const { dir, real } = isDirOnHost(storeDir, host);
    if (!dir || !real) {
      // single-file store paths (rare) cannot be merged into a profile; buildEnv skips them too
      continue;
    }
    add('', real, input.storePath, input.priority, input.origin);
  }
  return tree;
}

function minPriorityUnder(tree: Map<string, TreeNode>, rel: string): number {
  let min = Number.POSITIVE_INFINITY;
  for (const [k, v] of tree) if (v.kind === 'link' && k.startsWith(`${rel}/`)) min = Math.min(min, v.priority);
  return min;
}

/** Store paths listed in a package's nix-support file (space or newline separated). */
export function readPropagated(storeDir: string, storePath: string, file: string): string[] {
  const host = hostPathOf(storeDir, storePath);
  if (!host) return [];
  try {
    return readFileSync(join(host, 'nix-support', file), 'utf8')
      .split(/\s+/)
      .filter((p) => p.startsWith(`${STORE}/`) && basename(p).length > 33);
  } catch {
    return [];
  }
}

/**
 * The full input list: selected outputs, then packages they propagate (user-env packages always,
 * build inputs recursively in dev mode), each with the propagating package's priority; `-stubs`
 * outputs are never propagated. Sorted by priority, stable.
 */
export function expandInputs(storeDir: string, roots: TreeInput[], mode: 'run' | 'dev'): TreeInput[] {
  const best = new Map<string, TreeInput>();
  const order: string[] = [];
  const queue = [...roots];
  while (queue.length > 0) {
    const item = queue.shift()!;
    const seen = best.get(item.storePath);
    if (seen && seen.priority <= item.priority) continue;
    if (!seen) order.push(item.storePath);
    best.set(item.storePath, item);
    const files = mode === 'dev' ? ['propagated-user-env-packages', 'propagated-build-inputs'] : ['propagated-user-env-packages'];
    for (const f of files) {
      for (const p of readPropagated(storeDir, item.storePath, f)) {
        if (p.endsWith('-stubs')) continue;
        queue.push({ storePath: p, priority: item.priority, origin: `${basename(p).slice(33)} (propagated by ${item.origin})` });
      }
    }
  }
  return order.map((p) => best.get(p)!).map((x, i) => ({ x, i })).sort((a, b) => a.x.priority - b.x.priority || a.i - b.i).map(({ x }) => x);
}

/** Host path of `rel` inside a rendered tree, following its /nix/store links; undefined if absent. */
export function resolveInTree(storeDir: string, root: string, rel: string): string | undefined {
  let cur = root;
  for (const part of rel.split('/').filter(Boolean)) {
    const r = resolveHost(storeDir, join(cur, part));
    if (!r) return undefined;
    cur = r;
  }
  return cur;
}
