// The profile as a symlink tree, the way nixpkgs' buildEnv (and Flox's builder.pl) make it:
// a directory only one package provides becomes one symlink to it; a directory several provide
// is "unfolded" into a real directory of links; a file two packages provide is a conflict that
// the lower priority number wins, an error when priorities are equal and contents differ.
// Links point at /nix/store/... (valid inside the container); contents are read on the host
// from storeDir/<hash>-<name>.
// A package's links are resolved the way the container resolves them, in /nix/store space
// (src/activate/container-paths.ts), never by the host kernel: `share -> ../../../../var/lib/x`
// or `-> /etc` leaves the store, so the builder does not follow it (it would list a host
// directory into the profile, or compare a host file's content for a conflict). Such a link is
// kept as a plain link, like a dangling one in Nix's build sandbox: the profile points at it and
// the container resolves it in its own filesystem.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, posix } from 'node:path';
import { resolveInView, type View } from '../activate/container-paths.js';
import { FloxError } from '../errors.js';
import { storeBasenameError } from '../nix/store-path.js';
import { ENV_MOUNT } from './scripts.js';

export const STORE = '/nix/store';

export interface TreeInput {
  storePath: string;
  priority: number;
  /** who asked for it, for conflict messages: install id, or "propagated by X" */
  origin: string;
}

export type TreeNode =
  | { kind: 'dir' }
  /** `host`: where the linked directory's entries are listed on the host (directories only) */
  | { kind: 'link'; target: string; host: string; isDir: boolean; priority: number; origin: string };

/** Host path of a container path under /nix/store; undefined for paths outside the store. */
export function hostPathOf(storeDir: string, p: string): string | undefined {
  if (p === STORE || p.startsWith(`${STORE}/`)) return storeDir + p.slice(STORE.length);
  return undefined;
}

const storeView = (storeDir: string): View => [{ containerPrefix: STORE, hostDir: storeDir }];

/** Host path of what a /nix/store path resolves to in the container; undefined outside the store. */
export function resolveStore(storeDir: string, containerPath: string): string | undefined {
  return resolveInView(storeView(storeDir), containerPath);
}

function isDirInStore(storeDir: string, containerPath: string): { dir: boolean; real?: string } {
  const real = resolveStore(storeDir, containerPath);
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

/** Whether two store paths hold the same file; false for anything that leaves the store. */
function sameContent(storeDir: string, a: string, b: string): boolean {
  const ra = resolveStore(storeDir, a);
  const rb = resolveStore(storeDir, b);
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
      const { dir, real } = isDirInStore(storeDir, `${target}/${n}`);
      const node: TreeNode = { kind: 'link', target: `${target}/${n}`, host: dir && real ? real : join(hostDir, n), isDir: dir, priority, origin };
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
      if (old.kind === 'link' && !old.isDir && !dir && sameContent(storeDir, old.target, node.target)) continue;
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
    if (!isStorePath(input.storePath)) throw new FloxError('render', `not a store path: ${input.storePath}`);
    const { dir, real } = isDirInStore(storeDir, input.storePath);
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

/** `/nix/store/<hash>-<name>` exactly: no sub-path, no `..` (a package's files name these). */
function isStorePath(p: string): boolean {
  return p.startsWith(`${STORE}/`) && storeBasenameError(p.slice(STORE.length + 1)) === undefined;
}

/** Store paths listed in a package's nix-support file (space or newline separated). */
export function readPropagated(storeDir: string, storePath: string, file: string): string[] {
  const host = isStorePath(storePath) ? resolveStore(storeDir, `${storePath}/nix-support/${file}`) : undefined;
  if (!host) return [];
  try {
    return readFileSync(host, 'utf8')
      .split(/\s+/)
      .filter(isStorePath);
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

/**
 * Host path of `rel` inside a rendered tree, resolved as the container sees it (the tree at
 * /run/flox/env, its links into /nix/store); undefined if absent or outside both.
 */
export function resolveInTree(storeDir: string, root: string, rel: string): string | undefined {
  return resolveInView([...storeView(storeDir), { containerPrefix: ENV_MOUNT, hostDir: root }], posix.join(ENV_MOUNT, rel));
}
