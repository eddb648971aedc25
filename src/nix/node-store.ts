// Layout of the node store under <state-dir>:
//   store/<hash>-<name>            complete, verified store paths (bind-mounted as /nix/store)
//   store/.tmp/<basename>.<pid>.*  downloads in progress (same filesystem: rename is atomic)
//   nix/meta/<basename>.json       metadata for GC: narHash, references, where it came from
//   nix/meta/<basename>.users/<u>  one empty file per environment that uses the path
//   nix/locks/<hash>.lock          flock per path: one process realises it, the others wait
// A path is valid when both store/<basename> and its meta record exist; the record is written
// first, so a crash leaves at worst an orphan record, never a path without one.
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { FloxError } from '../errors.js';
import { STORE_DIR, parseStoreBasename, parseStorePath } from './store-path.js';

interface Layout {
  store: string;
  tmp: string;
  meta: string;
  locks: string;
}

// The directories of a state dir, joined once: a cold realise asks for them a few hundred
// times, and path.join's normalising was a visible part of it. Names appended to them are
// store basenames (validated, never containing "/") or encoded user names.
const layouts = new Map<string, Layout>();
function layout(stateDir: string): Layout {
  let l = layouts.get(stateDir);
  if (!l) {
    const store = join(stateDir, 'store');
    l = { store, tmp: join(store, '.tmp'), meta: join(stateDir, 'nix', 'meta'), locks: join(stateDir, 'nix', 'locks') };
    layouts.set(stateDir, l);
  }
  return l;
}

export function nodeStoreDir(stateDir: string): string {
  return layout(stateDir).store;
}

/** Where a validated store path lives on the node. */
export function hostPathOf(stateDir: string, storePath: string): string {
  return `${layout(stateDir).store}/${parseStorePath(storePath).basename}`;
}

export const tmpDir = (stateDir: string) => layout(stateDir).tmp;
export const metaDir = (stateDir: string) => layout(stateDir).meta;
export const lockDir = (stateDir: string) => layout(stateDir).locks;
const metaFile = (stateDir: string, basename: string) => `${layout(stateDir).meta}/${basename}.json`;
const usersDir = (stateDir: string, basename: string) => `${layout(stateDir).meta}/${basename}.users`;
export const lockFileOf = (stateDir: string, basename: string) => `${layout(stateDir).locks}/${parseStoreBasename(basename).hash}.lock`;

const storeDirs = (stateDir: string) => [nodeStoreDir(stateDir), tmpDir(stateDir), metaDir(stateDir), lockDir(stateDir)];

export function ensureStoreDirs(stateDir: string): void {
  for (const d of storeDirs(stateDir)) mkdirSync(d, { recursive: true, mode: 0o755 });
}

const PathMetaSchema = z.object({
  version: z.literal(1),
  storePath: z.string(),
  narHash: z.string(),
  narSize: z.number().int().nonnegative(),
  references: z.array(z.string()),
  deriver: z.string().optional(),
  ca: z.string().optional(),
  signatures: z.array(z.string()),
  substituter: z.string(),
  fileSize: z.number().int().nonnegative().optional(),
  registeredAt: z.string(),
});
export type PathMeta = z.infer<typeof PathMetaSchema>;

export interface PathRecord extends PathMeta {
  /** environments (e.g. "owner/name:3") that asked for this path */
  users: string[];
}

export function readPathMeta(stateDir: string, storePath: string): PathRecord | undefined {
  const { basename } = parseStorePath(storePath);
  let text: string;
  try {
    text = readFileSync(metaFile(stateDir, basename), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const r = PathMetaSchema.safeParse(JSON.parse(text));
  if (!r.success || r.data.storePath !== `${STORE_DIR}/${basename}`) {
    throw new FloxError('store', `corrupt metadata record ${metaFile(stateDir, basename)}; delete it and realise ${storePath} again`);
  }
  return { ...r.data, users: listUsers(stateDir, basename) };
}

function listUsers(stateDir: string, basename: string): string[] {
  try {
    return readdirSync(usersDir(stateDir, basename)).map(decodeURIComponent).sort();
  } catch {
    return [];
  }
}

export function writePathMeta(stateDir: string, meta: PathMeta): void {
  const { basename } = parseStorePath(meta.storePath);
  const file = metaFile(stateDir, basename);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(meta)}\n`);
  renameSync(tmp, file);
}

/** Drops the record of a path that did not make it into the store (call with its lock held). */
export function removePathMeta(stateDir: string, basename: string): void {
  rmSync(metaFile(stateDir, basename), { force: true });
}

/** Idempotent and lock-free: one empty file per user. */
export function addUser(stateDir: string, basename: string, user: string): void {
  if (!user || user.length > 200) throw new FloxError('store', `invalid user "${user.slice(0, 40)}" for ${basename}: 1-200 characters`);
  const dir = usersDir(stateDir, basename);
  const file = join(dir, encodeURIComponent(user).replaceAll('.', '%2E'));
  // a warm start finds itself already recorded: one stat instead of a mkdir and a write
  if (existsSync(file)) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, '');
}

export function removeUser(stateDir: string, basename: string, user: string): void {
  rmSync(join(usersDir(stateDir, basename), encodeURIComponent(user).replaceAll('.', '%2E')), { force: true });
}

export function storePathExists(stateDir: string, basename: string): boolean {
  try {
    lstatSync(`${layout(stateDir).store}/${basename}`);
    return true;
  } catch {
    return false;
  }
}

export function isValidPath(stateDir: string, basename: string): boolean {
  return storePathExists(stateDir, basename) && existsSync(metaFile(stateDir, basename));
}

/** Removes leftovers of interrupted downloads of one path (call with its lock held). */
export function removeStaleTmp(stateDir: string, basename: string): void {
  let names: string[];
  try {
    names = readdirSync(tmpDir(stateDir));
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(`${basename}.`)) rmSync(`${layout(stateDir).tmp}/${n}`, { recursive: true, force: true });
}

export function newTmpPath(stateDir: string, basename: string): string {
  return `${layout(stateDir).tmp}/${basename}.${process.pid}.${Math.random().toString(36).slice(2, 10)}`;
}

/** Moves a finished tree into the store in one rename. */
export function commitPath(stateDir: string, tmp: string, basename: string): void {
  const dest = `${layout(stateDir).store}/${basename}`;
  if (storePathExists(stateDir, basename)) {
    // present without a metadata record (e.g. copied in by hand): replace it, atomically enough
    const aside = newTmpPath(stateDir, basename);
    renameSync(dest, aside);
    rmSync(aside, { recursive: true, force: true });
  }
  renameSync(tmp, dest);
}
