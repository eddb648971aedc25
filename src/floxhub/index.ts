// FloxHub environments: `owner/name[:N]` -> the generation's manifest.toml and manifest.lock.
// Every container start asks the hub for the branch head (one HTTP request; that is how a pod
// picks up `flox push` without an image rebuild); a commit already on the node is never fetched
// again; a cached pinned generation needs no network; an unreachable hub falls back to the
// cached head with a warning.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FloxError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { type EnvironmentRef, formatEnvironmentRef, parseEnvironmentRef } from '../pod/environment-ref.js';
import { envCacheDir, hasCommit, openEnvCache, hasGeneration, storeGeneration, headPointer, pinPointer, type Pointer, readCommitFile, readPointer, storeCommit, tokenDigest, writePointer } from './cache.js';
import { type FetchedTree, fetchBranch } from './git-fetch.js';
import { LockError, type Lockfile, parseLockfile } from './lockfile.js';
import { type Manifest, ManifestError, parseManifestToml } from './manifest.js';
import { type GenerationsMetadata, MetadataError, parseMetadata } from './metadata.js';
import { floxmetaUrl, type HeadCheck } from './head-check.js';
import { HubError, listRefs } from './smart-http.js';

export type { EnvironmentRef } from '../pod/environment-ref.js';
export type { Manifest } from './manifest.js';
export type { Lockfile, LockEntry } from './lockfile.js';
export { pickToken, podTokenFileFromMounts, readTokenFile, POD_TOKEN_KEY, POD_TOKEN_MOUNT } from './token.js';
export { startHeadCheck, type HeadCheck } from './head-check.js';

export interface ResolveOptions {
  gitUrl: string;
  stateDir: string;
  token?: string;
  timeoutMs: number;
  /** floxhub.max-clone-bytes (git-fetch.ts has the default) */
  maxCloneBytes?: number;
  log: Logger;
  /** the head check, already sent (startHeadCheck); used when it asked the same repository with the same token */
  headCheck?: HeadCheck;
  /** cachedLiveGeneration's answer, taken as is when the hub names the same commit */
  cachedHead?: ResolvedEnvironment;
}

export interface ResolvedEnvironment {
  ref: EnvironmentRef;
  generation: number;
  /** true when the live generation was asked for (no `:N`). */
  live: boolean;
  commit: string;
  manifestToml: string;
  lockJson: string;
  fromCache: boolean;
  /** Parsed forms; `manifest` is the lock's copy when the lock has one (what Flox builds from). */
  manifest: Manifest;
  lock: Lockfile;
  /** `owner/name`, what FLOX_ENV_DESCRIPTION shows. */
  description: string;
  metadataVersion: 1 | 2;
  /** Set when the hub could not be asked and a cached generation was used instead. */
  staleReason?: string;
}

function validRef(ref: EnvironmentRef): EnvironmentRef {
  // the parts become a URL path, a branch name and directories: re-validate here, not only at the pod edge
  try {
    return parseEnvironmentRef(formatEnvironmentRef(ref));
  } catch (e) {
    throw new FloxError('usage', (e as Error).message);
  }
}

export async function resolveEnvironment(refIn: EnvironmentRef, opts: ResolveOptions): Promise<ResolvedEnvironment> {
  const ref = validRef(refIn);
  const shown = formatEnvironmentRef(ref);
  const repoUrl = floxmetaUrl(opts.gitUrl, ref.owner);
  const dir = openEnvCache(opts.stateDir, opts.gitUrl, ref.owner, ref.name);
  const log = opts.log.child({ environment: shown });
  // a token-fetched entry serves only the same token again: any token is not the right one
  const digest = opts.token === undefined ? undefined : tokenDigest(opts.token);
  const usable = usableWith(digest);

  // 1. a pinned generation already on the node: no network at all
  if (ref.generation !== undefined) {
    const pin = await readPointer(pinPointer(dir, ref.generation));
    if (usable(pin) && (await hasCommit(dir, pin.commit))) {
      const r = await tryFromCache(ref, dir, pin.commit, ref.generation);
      if (r) {
        log.debug('floxhub: pinned generation from cache', { commit: pin.commit });
        return r;
      }
    }
  }

  // 2. ask the hub for the branch head
  let head: string | undefined;
  try {
    const early = opts.headCheck;
    const refs = await (early && early.repoUrl === repoUrl && early.token === opts.token ? early.refs : listRefs(repoUrl, { token: opts.token, timeoutMs: opts.timeoutMs }));
    head = refs.get(`refs/heads/${ref.name}`);
    if (!head) throw notFound(shown, repoUrl, opts.token !== undefined, `the owner's floxmeta repository has no branch "${ref.name}"`);
  } catch (e) {
    if (!(e instanceof HubError)) throw e;
    if (e.reason === 'auth') throw authError(shown, opts.token !== undefined, e.message);
    if (e.reason === 'not-found') throw notFound(shown, repoUrl, opts.token !== undefined, `${repoUrl} does not exist`);
    // unreachable or a garbled answer: fall back to what the node has
    const cached = await offlineFallback(ref, dir, usable);
    if (cached) {
      log.warn('floxhub: hub unreachable, using cached generation', { commit: cached.commit, generation: cached.generation, error: e.message });
      return { ...cached, staleReason: e.message };
    }
    throw new FloxError(
      'floxhub-unreachable',
      `cannot reach FloxHub for environment ${shown} (${repoUrl}: ${e.message}) and the node has no cached copy of it; check the node's network and floxhub.git-url, then retry`,
      { cause: e },
    );
  }

  // 3. the head commit and the generation's files, from the node cache or fetched once
  let fromCache = true;
  let fetched: FetchedTree | undefined;
  const fetchHead = async () => {
    fromCache = false;
    try {
      const t0 = Date.now();
      fetched = await fetchBranch({ repoUrl, branch: ref.name, token: opts.token, timeoutMs: opts.timeoutMs, tmpDir: await ensureDir(dir), ...(opts.maxCloneBytes !== undefined && { maxCloneBytes: opts.maxCloneBytes }) });
      await storeCommit(dir, fetched.commit, new Map([...fetched.files].filter(([p]) => p === 'metadata.json')));
      log.info('floxhub: fetched floxmeta commit', { commit: fetched.commit, ms: Date.now() - t0, files: fetched.files.size });
      head = fetched.commit; // the branch may have moved on since the ref check: take the newer one
    } catch (e) {
      if (!(e instanceof HubError)) throw e;
      if (e.reason === 'auth') throw authError(shown, opts.token !== undefined, e.message);
      if (e.reason === 'not-found') throw notFound(shown, repoUrl, opts.token !== undefined, e.message);
      throw new FloxError('floxhub-unreachable', `fetching environment ${shown} from ${repoUrl} failed: ${e.message}; retry, or check the node's network`, { cause: e });
    }
  };
  const known = opts.cachedHead;
  if (ref.generation === undefined && known && known.commit === head && known.ref.owner === ref.owner && known.ref.name === ref.name) {
    // the branch has not moved since this node last saw it: the generation is already loaded
    await remember(dir, head, known.generation, true, digest);
    return known;
  }
  let meta: GenerationsMetadata;
  let generation: number;
  try {
    if (!(await hasCommit(dir, head))) await fetchHead();
    ({ meta, generation } = await pickGeneration(ref, dir, head!));
    if (!(await hasGeneration(dir, head!, generation))) {
      // a generation of a cached commit not used before (e.g. a newly pinned one): fetch again
      if (!fetched) {
        await fetchHead();
        ({ meta, generation } = await pickGeneration(ref, dir, head!));
      }
      await storeGeneration(dir, head!, generation, fetched!.files);
    }
  } catch (e) {
    // the hub answered the ref check but failed the fetch: a cached generation still serves
    if (!(e instanceof FloxError) || e.kind !== 'floxhub-unreachable') throw e;
    const cached = await offlineFallback(ref, dir, usable);
    if (!cached) throw e;
    log.warn('floxhub: fetch failed, using cached generation', { commit: cached.commit, generation: cached.generation, error: e.message });
    return { ...cached, staleReason: e.message };
  }
  const resolved = await loadGeneration(ref, dir, head!, generation, meta.formatVersion, fromCache);
  await remember(dir, head!, generation, ref.generation === undefined, digest);
  return resolved;
}

/** Points the branch head (for a live start) and the generation's pin at the commit used. */
async function remember(dir: string, commit: string, generation: number, live: boolean, digest: string | undefined): Promise<void> {
  const pointer: Pointer = { commit, anonymous: digest === undefined, ...(digest !== undefined && { tokenSha256: digest }), at: new Date().toISOString() };
  if (live) await updatePointer(headPointer(dir), pointer);
  await updatePointer(pinPointer(dir, generation), pointer);
}

/** Whether a cache pointer serves a start with this token: anonymous entries, or the same token's. */
function usableWith(tokenSha256: string | undefined): (p: Pointer | undefined) => p is Pointer {
  return (p): p is Pointer => p !== undefined && (p.anonymous || (tokenSha256 !== undefined && p.tokenSha256 === tokenSha256));
}

/**
 * The live generation at the branch head this node saw last, from the cache alone (no network),
 * if the token may use it; undefined otherwise. What a start guesses while the hub is asked.
 */
export async function cachedLiveGeneration(refIn: EnvironmentRef, opts: { gitUrl: string; stateDir: string; token?: string }): Promise<ResolvedEnvironment | undefined> {
  if (refIn.generation !== undefined) return undefined;
  try {
    const ref = validRef(refIn);
    const dir = envCacheDir(opts.stateDir, opts.gitUrl, ref.owner, ref.name);
    const digest = opts.token === undefined ? undefined : tokenDigest(opts.token);
    return await offlineFallback(ref, dir, usableWith(digest));
  } catch {
    return undefined;
  }
}

/** The generation to use at a cached commit (live or pinned), checked against its metadata. */
async function pickGeneration(ref: EnvironmentRef, dir: string, commit: string): Promise<{ meta: GenerationsMetadata; generation: number }> {
  const shown = formatEnvironmentRef(ref);
  const metaText = await readCommitFile(dir, commit, 'metadata.json');
  if (metaText === undefined) throw malformed(shown, 'the branch has no metadata.json');
  let meta: GenerationsMetadata;
  try {
    meta = parseMetadata(metaText);
  } catch (e) {
    if (e instanceof MetadataError) throw malformed(shown, e.message);
    throw e;
  }
  const generation = ref.generation ?? meta.live;
  if (generation === undefined) throw new FloxError('floxhub-generation', `environment ${shown} has no generations yet; push one with \`flox push\``);
  if (!meta.generations.has(generation)) {
    const known = [...meta.generations].sort((a, b) => a - b);
    throw new FloxError('floxhub-generation', `environment ${ref.owner}/${ref.name} has no generation ${generation} (it has ${known.length ? known.join(', ') : 'none'}, live ${meta.live ?? 'none'}); fix the generation in the flox.dev/environment annotation`);
  }
  return { meta, generation };
}

/** Writes only when something changed: the warm path then costs one read, not a write + rename. */
async function updatePointer(path: string, p: Pointer): Promise<void> {
  const old = await readPointer(path);
  if (old && old.commit === p.commit && (old.anonymous || (!p.anonymous && old.tokenSha256 === p.tokenSha256))) return;
  await writePointer(path, p);
}

async function ensureDir(dir: string): Promise<string> {
  await mkdir(join(dir, 'commits'), { recursive: true, mode: 0o700 });
  return join(dir, 'commits');
}

async function tryFromCache(ref: EnvironmentRef, dir: string, commit: string, generation: number): Promise<ResolvedEnvironment | undefined> {
  const metaText = await readCommitFile(dir, commit, 'metadata.json');
  if (metaText === undefined) return undefined;
  try {
    const meta = parseMetadata(metaText);
    if (!meta.generations.has(generation) || !(await hasGeneration(dir, commit, generation))) return undefined;
    return await loadGeneration(ref, dir, commit, generation, meta.formatVersion, true);
  } catch {
    return undefined; // a cache entry that does not load is ignored; the hub decides
  }
}

async function offlineFallback(ref: EnvironmentRef, dir: string, usable: (p: Pointer | undefined) => p is Pointer): Promise<ResolvedEnvironment | undefined> {
  const head = await readPointer(headPointer(dir));
  if (ref.generation !== undefined) {
    // a pinned generation can come from any cached commit that has it
    if (usable(head)) {
      const r = await tryFromCache(ref, dir, head.commit, ref.generation);
      if (r) return r;
    }
    return undefined;
  }
  if (!usable(head)) return undefined;
  const metaText = await readCommitFile(dir, head.commit, 'metadata.json');
  if (metaText === undefined) return undefined;
  try {
    const live = parseMetadata(metaText).live;
    return live === undefined ? undefined : await tryFromCache(ref, dir, head.commit, live);
  } catch {
    return undefined;
  }
}

async function loadGeneration(ref: EnvironmentRef, dir: string, commit: string, generation: number, metadataVersion: 1 | 2, fromCache: boolean): Promise<ResolvedEnvironment> {
  const shown = `${ref.owner}/${ref.name}:${generation}`;
  const manifestToml = await readCommitFile(dir, commit, `${generation}/env/manifest.toml`);
  if (manifestToml === undefined) throw new FloxError('floxhub-generation', `generation ${generation} of ${ref.owner}/${ref.name} is listed in metadata.json but has no ${generation}/env/manifest.toml on FloxHub`);
  let manifest: Manifest;
  try {
    manifest = parseManifestToml(manifestToml);
  } catch (e) {
    if (e instanceof ManifestError) throw malformed(shown, e.message);
    throw e;
  }
  const lockJson = await readCommitFile(dir, commit, `${generation}/env/manifest.lock`);
  if (lockJson === undefined) {
    throw new FloxError('lock', `environment ${shown} has no manifest.lock: the node can only run locked environments; run \`flox install\` or \`flox upgrade\` (which lock) and \`flox push\` a new generation`);
  }
  let lock: Lockfile;
  try {
    lock = parseLockfile(lockJson);
  } catch (e) {
    if (e instanceof LockError) throw new FloxError('lock', `environment ${shown}: ${e.message}; re-lock it with a current Flox (\`flox upgrade\`) and push`);
    throw e;
  }
  return {
    ref,
    generation,
    live: ref.generation === undefined,
    commit,
    manifestToml,
    lockJson,
    fromCache,
    manifest: lock.manifest ?? manifest,
    lock,
    description: `${ref.owner}/${ref.name}`,
    metadataVersion,
  };
}

function notFound(shown: string, repoUrl: string, hadToken: boolean, detail: string): FloxError {
  const hint = hadToken
    ? 'check the owner and name in the flox.dev/environment annotation, and that the token\'s user can see the environment'
    : 'check the owner and name in the flox.dev/environment annotation; if the environment is private, mount the floxhub-token secret at /var/run/secrets/flox.dev';
  return new FloxError('floxhub-not-found', `FloxHub environment ${shown} not found (${detail}); ${hint}`);
}

function authError(shown: string, hadToken: boolean, detail: string): FloxError {
  return new FloxError(
    'floxhub-auth',
    hadToken
      ? `FloxHub refused the token for environment ${shown} (${detail}); the token may have expired (user tokens last one month): create a new one with \`flox auth token\` and update the floxhub-token secret`
      : `environment ${shown} is private and no FloxHub token was given (${detail}); create the floxhub-token secret (\`flox auth token | kubectl create secret generic floxhub-token --from-file=floxhub-token=/dev/stdin\`) and mount it at /var/run/secrets/flox.dev`,
  );
}

function malformed(shown: string, detail: string): FloxError {
  return new FloxError('floxhub-malformed', `environment ${shown} on FloxHub is malformed: ${detail}; push a new generation with a current Flox, or pin a working generation (owner/name:N)`);
}

