// The node's FloxHub cache under <state-dir>/floxhub: files of a floxmeta commit are immutable,
// so they are kept by commit; two small pointer files say which commit was last seen as the
// branch head and at which commit a pinned generation was read. All writes are tmp + rename.
// Private environments' manifests, locks and metadata live here and only the runtime (root)
// reads them: the root is 0700 (tightened on every resolve, so a root an older version made
// 0755 is fixed on the next run), new files 0600, new directories 0700.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FloxError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';

export interface Pointer {
  commit: string;
  /** Fetched without a token: usable offline by anyone. Token-fetched entries need a token. */
  anonymous: boolean;
  /** tokenDigest of the token that fetched it (never the token): only that token may reuse it */
  tokenSha256?: string;
  at: string;
}

/** What the cache remembers of a token: a domain-separated SHA-256 (tokens are high-entropy). */
export function tokenDigest(token: string): string {
  return createHash('sha256').update('flox-runtime floxhub token\0').update(token).digest('hex');
}

export function envCacheDir(stateDir: string, gitUrl: string, owner: string, name: string): string {
  const hub = createHash('sha256').update(gitUrl.replace(/\/+$/, '')).digest('hex').slice(0, 16);
  return join(stateDir, 'floxhub', hub, owner, name);
}

/** Creates `<state-dir>/floxhub` or tightens it to 0700; the env cache dir of `envCacheDir`. */
export function openEnvCache(stateDir: string, gitUrl: string, owner: string, name: string): string {
  const root = join(stateDir, 'floxhub');
  try {
    mkdirSync(stateDir, { recursive: true });
    mkdirSync(root, { recursive: true, mode: 0o700 });
    if ((statSync(root).mode & 0o7777) !== 0o700) chmodSync(root, 0o700);
  } catch (e) {
    throw new FloxError('store', `cannot prepare the FloxHub cache ${root}: ${(e as Error).message}`, { cause: e });
  }
  return envCacheDir(stateDir, gitUrl, owner, name);
}

async function writeAtomic(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, content, { mode: 0o600, errorKind: 'store' });
}

export async function readPointer(path: string): Promise<Pointer | undefined> {
  try {
    // sync reads: a handful of tiny files per container start; no thread-pool round trips
    const p = JSON.parse(readFileSync(path, 'utf8')) as Partial<Pointer>;
    if (typeof p.commit === 'string' && /^[0-9a-f]{40,64}$/.test(p.commit) && typeof p.anonymous === 'boolean') return p as Pointer;
  } catch {
    // missing or torn: treat as absent
  }
  return undefined;
}

export const headPointer = (dir: string) => join(dir, 'head.json');
export const pinPointer = (dir: string, generation: number) => join(dir, 'pins', `${generation}.json`);

export async function writePointer(path: string, p: Pointer): Promise<void> {
  await writeAtomic(path, JSON.stringify(p));
}

export function commitDir(dir: string, commit: string): string {
  return join(dir, 'commits', commit);
}

/** Stores the files of one commit; a concurrent writer of the same commit simply wins. */
export async function storeCommit(dir: string, commit: string, files: Map<string, string>): Promise<void> {
  const final = commitDir(dir, commit);
  const tmp = join(dir, 'commits', `.tmp-${commit}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    for (const [path, content] of files) {
      await mkdir(dirname(join(tmp, path)), { recursive: true, mode: 0o700 });
      await writeFile(join(tmp, path), content, { mode: 0o600 });
    }
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    await writeFile(join(tmp, '.complete'), commit, { mode: 0o600 });
    await rename(tmp, final);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Reads a file of a cached commit; undefined when the commit or the file is not cached. */
export async function readCommitFile(dir: string, commit: string, path: string): Promise<string | undefined> {
  try {
    return readFileSync(join(commitDir(dir, commit), path), 'utf8');
  } catch {
    return undefined;
  }
}

export async function hasCommit(dir: string, commit: string): Promise<boolean> {
  return (await readCommitFile(dir, commit, '.complete')) === commit;
}

/**
 * Adds one generation's files to a cached commit. Only generations actually used are kept (a
 * branch holds every generation ever pushed: extracting all would cost O(history) per push).
 */
export async function storeGeneration(dir: string, commit: string, generation: number, files: Map<string, string>): Promise<void> {
  const base = commitDir(dir, commit);
  for (const name of ['manifest.toml', 'manifest.lock']) {
    const content = files.get(`${generation}/env/${name}`);
    if (content !== undefined) await writeAtomic(join(base, String(generation), 'env', name), content);
  }
  await writeAtomic(join(base, String(generation), '.complete'), commit);
}

export async function hasGeneration(dir: string, commit: string, generation: number): Promise<boolean> {
  return (await readCommitFile(dir, commit, `${generation}/.complete`)) === commit;
}
