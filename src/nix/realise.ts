// realiseClosure: make a set of store paths and everything they reference valid in the node
// store, substituting what is missing from signed binary caches. Many processes may do this at
// once for overlapping closures: each path is fetched by one of them under its lock, the others
// wait and reuse it. A path is renamed into the store only after its NAR verified and after all
// of its references are in, so the store never holds a path whose closure is incomplete.
import { setMaxListeners } from 'node:events';
import { rmSync } from 'node:fs';
import { z } from 'zod';
import { FloxError, isFloxError } from '../errors.js';
import { type FetchNarResult, fetchNar } from './fetch-nar.js';
import { type FetchOptions, HttpStatusError, type RetryOptions, TransientError, withRetry } from './http.js';
import { substituterHosts } from './redirect.js';
import { type Deferred, Limiter, deferred } from './limit.js';
import { type Lock, acquireLock, tryLockEach } from './lock.js';
import { formatNix32 } from './hash.js';
import {
  addUser,
  commitPath,
  ensureStoreDirs,
  isValidPath,
  lockFileOf,
  newTmpPath,
  readPathMeta,
  removePathMeta,
  removeStaleTmp,
  writePathMeta,
} from './node-store.js';
import type { NarInfo } from './narinfo.js';
import { type PublicKey, parsePublicKey } from './signature.js';
import { type StorePath, STORE_DIR, parseContentAddress, parseStorePath } from './store-path.js';
import { type Substituter, type TrustedNarInfo, fetchNarInfo, normaliseSubstituterUrl, openSubstituter, trustOf } from './substituter.js';

export interface RealiseOptions {
  /** node store lives at `${stateDir}/store/<hash>-<name>` */
  stateDir: string;
  /** http(s):// or file:// URLs, tried in nix-cache-info Priority order (then list order) */
  substituters: string[];
  /** "name:base64" */
  trustedPublicKeys: string[];
  maxParallel?: number;
  /** per request: connect + headers, and the longest stall while a body streams */
  timeoutMs?: number;
  /** retries of transient failures (network, 5xx, truncated), with exponential backoff */
  retries?: number;
  retryBaseDelayMs?: number;
  /** files at least this big use the node's xz/zstd/bzip2 when present (default 64 KiB; Infinity: always the built-in JS/wasm decoders) */
  nativeDecompressMinBytes?: number;
  /** who needs these paths, e.g. "owner/name:3"; recorded in metadata for GC */
  user?: string;
  onEvent?: (e: RealiseEvent) => void;
  signal?: AbortSignal;
}

export type RealiseEvent =
  | { type: 'substituter'; url: string; priority?: number; error?: string }
  | { type: 'closure'; paths: string[]; missing: string[]; narBytes: number; fileBytes: number }
  | { type: 'path-present'; path: string }
  | { type: 'path-start'; path: string; substituter: string; fileSize?: number; narSize: number }
  | { type: 'progress'; path: string; pathBytes: number; totalBytes: number; totalFileBytes: number }
  | { type: 'path-done'; path: string; substituter: string; fileBytes: number; narBytes: number; ms: number }
  /** another process realised it while we waited for its lock */
  | { type: 'path-reused'; path: string }
  /** the NAR could not be had from one substituter (after its retries): the next one that has the path is tried */
  | { type: 'fallback'; path: string; from: string; to: string; error: string }
  | { type: 'retry'; path: string; attempt: number; delayMs: number; error: string };

export interface RealiseResult {
  /** full /nix/store/... paths, sorted */
  closure: string[];
  fetched: string[];
  present: string[];
  bytesDownloaded: number;
  narBytes: number;
}

const OptionsSchema = z.object({
  stateDir: z.string().startsWith('/'),
  substituters: z.array(z.string()),
  trustedPublicKeys: z.array(z.string()),
  maxParallel: z.number().int().min(1).max(256).optional(),
  timeoutMs: z.number().int().positive().optional(),
  retries: z.number().int().min(0).max(20).optional(),
  retryBaseDelayMs: z.number().int().min(0).optional(),
  nativeDecompressMinBytes: z.number().min(0).optional(),
  user: z.string().min(1).max(200).optional(),
});

interface Node {
  sp: StorePath;
  /** reference basenames */
  refs: string[];
  present: boolean;
  narinfo?: TrustedNarInfo;
}

export async function realiseClosure(storePaths: string[], opts: RealiseOptions): Promise<RealiseResult> {
  const parsed = OptionsSchema.safeParse(opts);
  if (!parsed.success) throw new FloxError('config', `realiseClosure: invalid options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const { stateDir } = opts;
  const keys: PublicKey[] = opts.trustedPublicKeys.map(parsePublicKey);
  const subUrls = opts.substituters.map(normaliseSubstituterUrl);
  const emit = opts.onEvent ?? (() => {});
  const roots = [...new Set(storePaths.map((p) => parseStorePath(p).basename))];

  // first failure stops the rest
  const failFast = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, failFast.signal]) : failFast.signal;
  setMaxListeners(0, signal); // one listener per request in flight
  const fetchOpts: FetchOptions = { timeoutMs: opts.timeoutMs ?? 30_000, signal };
  // a cache may redirect to another configured cache's host, and to no other (redirect.ts)
  fetchOpts.redirectHosts = substituterHosts(subUrls);
  const retryFor = (path: string): RetryOptions => ({
    retries: opts.retries ?? 3,
    baseDelayMs: opts.retryBaseDelayMs ?? 200,
    signal,
    onRetry: (attempt, delayMs, error) => emit({ type: 'retry', path, attempt, delayMs, error: error.message }),
  });
  const limiter = new Limiter(opts.maxParallel ?? 16);

  let subsPromise: Promise<Substituter[]> | undefined;
  const substituters = () => (subsPromise ??= openAll(subUrls, fetchOpts, retryFor('nix-cache-info'), emit));

  // ---- closure walk: each path's narinfo is asked for as soon as a referrer names it, and its
  // download starts as soon as that narinfo and its lock are in hand ---------------------------
  const nodes = new Map<string, Node>();
  const committed = new Map<string, Deferred<void>>();
  const tasks: Promise<void>[] = [];
  const lookups: Promise<void>[] = [];
  const result: RealiseResult = { closure: [], fetched: [], present: [], bytesDownloaded: 0, narBytes: 0 };
  let totalFileBytes = 0;
  let walkError: unknown;
  let walkFailed = false;

  // Locks of paths that are not here yet, taken while their narinfos are on their way: one child
  // process for the paths found in the same turn; contended ones are waited for in realiseOne.
  let lockQueue: { basename: string; got: Deferred<Lock | undefined> }[] = [];
  let dirsMade = false;
  const storeDirs = () => {
    if (!dirsMade) ensureStoreDirs(stateDir);
    dirsMade = true;
  };
  const fail = (e: unknown) => {
    if (!walkFailed) {
      walkFailed = true;
      walkError = e;
    }
    failFast.abort(e);
  };
  const flushLocks = () => {
    const batch = lockQueue;
    lockQueue = [];
    try {
      storeDirs();
    } catch (e) {
      fail(e);
      for (const q of batch) q.got.reject(e);
      return;
    }
    const each = tryLockEach(batch.map((q) => lockFileOf(stateDir, q.basename)));
    batch.forEach((q, i) => each[i]!.then(q.got.resolve, q.got.reject));
  };
  const lockSoon = (basename: string): Promise<Lock | undefined> => {
    const got = deferred<Lock | undefined>();
    // after this turn's requests are out: their round trips overlap the spawn
    if (!lockQueue.length) setImmediate(flushLocks);
    lockQueue.push({ basename, got });
    return got.promise;
  };

  const visit = (basename: string): void => {
    if (nodes.has(basename)) return;
    const sp = parseStorePath(`${STORE_DIR}/${basename}`);
    const node: Node = { sp, refs: [], present: false };
    nodes.set(basename, node);
    if (isValidPath(stateDir, basename)) {
      const meta = readPathMeta(stateDir, sp.path);
      node.present = true;
      node.refs = (meta?.references ?? []).map((r) => parseStorePath(r).basename);
      for (const r of node.refs) visit(r);
      return;
    }
    const done = deferred();
    committed.set(basename, done);
    const lock = lockSoon(basename);
    const found = limiter.run(() => lookup(sp.path, substituters, keys, fetchOpts, retryFor(sp.path), subUrls.length === 1 ? subUrls[0] : undefined)).then((narinfo) => {
      node.narinfo = narinfo;
      node.refs = narinfo.info.references;
      totalFileBytes += narinfo.info.fileSize ?? 0;
      for (const r of node.refs) visit(r);
    });
    lookups.push(
      found.catch((e: unknown) => {
        fail(e);
        done.reject(e);
        void lock.then((l) => l?.release(), () => {});
      }),
    );
    found.then(
      async () => {
        let held: Lock | undefined;
        try {
          held = await lock;
        } catch {
          // no lock from the batch: realiseOne waits for it on its own
        }
        const task = realiseOne(node, held).catch((e: unknown) => {
          failFast.abort(e);
          throw e;
        });
        // observed by Promise.allSettled(tasks) only after the walk; until then a failure must
        // not count as an unhandled rejection (which would kill the process before it reports)
        task.catch(() => {});
        tasks.push(task);
      },
      () => {},
    );
  };

  /**
   * After a NAR failed from `failed` substituters: the next substituter, in priority order, with
   * a trusted narinfo naming the same references (the closure was walked with them).
   */
  const nextCandidate = async (node: Node, failed: Set<string>): Promise<TrustedNarInfo | undefined> => {
    const skip = new Set(failed);
    for (;;) {
      let next: TrustedNarInfo;
      try {
        next = await lookup(node.sp.path, substituters, keys, fetchOpts, retryFor(node.sp.path), undefined, skip);
      } catch {
        return undefined;
      }
      if (sameMembers(next.info.references, node.refs)) return next;
      skip.add(next.substituter);
    }
  };

  const realiseOne = async (node: Node, held: Lock | undefined): Promise<void> => {
    const { sp } = node;
    let { info, substituter, trust } = node.narinfo!;
    const done = committed.get(sp.basename)!;
    let lock = held;
    let metaWritten = false;
    try {
      lock ??= await acquireLock(lockFileOf(stateDir, sp.basename), signal);
      if (isValidPath(stateDir, sp.basename)) {
        result.present.push(sp.path);
        emit({ type: 'path-reused', path: sp.path });
        done.resolve();
        return;
      }
      removeStaleTmp(stateDir, sp.basename);
      const tmp = newTmpPath(stateDir, sp.basename);
      const fetchWithRetries = (info: NarInfo, substituter: string): Promise<FetchNarResult> =>
        limiter.run(() =>
          withRetry(async () => {
            rmSync(tmp, { recursive: true, force: true });
            let pathBytes = 0;
            const attemptStart = result.bytesDownloaded;
            try {
              return await fetchNar(info, tmp, {
                ...fetchOpts,
                substituter,
                ...(opts.nativeDecompressMinBytes !== undefined ? { nativeMinBytes: opts.nativeDecompressMinBytes } : {}),
                onBytes: (k) => {
                  pathBytes += k;
                  result.bytesDownloaded += k;
                  emit({ type: 'progress', path: sp.path, pathBytes, totalBytes: result.bytesDownloaded, totalFileBytes });
                },
              });
            } catch (e) {
              // a retried download counts once
              if (e instanceof TransientError) result.bytesDownloaded = attemptStart;
              throw e;
            }
          }, retryFor(sp.path)),
        );
      try {
        const started = Date.now();
        emit({ type: 'path-start', path: sp.path, substituter, narSize: info.narSize, ...(info.fileSize !== undefined ? { fileSize: info.fileSize } : {}) });
        const failed = new Set<string>();
        let r: FetchNarResult;
        for (;;) {
          try {
            r = await fetchWithRetries(info, substituter);
            break;
          } catch (e) {
            // a download that failed for good (server trouble, a corrupt or hostile NAR) may still
            // succeed from another cache, as Nix falls back to its next substituter
            const next = fallbackWorthy(e) && !signal.aborted ? await nextCandidate(node, failed.add(substituter)) : undefined;
            if (!next) throw e;
            emit({ type: 'fallback', path: sp.path, from: substituter, to: next.substituter, error: (e as Error).message });
            ({ info, substituter, trust } = next);
          }
        }
        if (trust.kind === 'content-address') checkFlatContent(info.ca!, r.rootFileSha256, sp.path, substituter);
        // the record may come first (a record without its path is not a valid path), so it is
        // written now rather than after the references
        writePathMeta(stateDir, {
          version: 1,
          storePath: sp.path,
          narHash: formatNix32(info.narHash),
          narSize: info.narSize,
          references: info.references.map((b) => `${STORE_DIR}/${b}`),
          ...(info.deriver ? { deriver: info.deriver } : {}),
          ...(info.ca ? { ca: info.ca } : {}),
          signatures: info.sigs,
          substituter,
          ...(info.fileSize !== undefined ? { fileSize: info.fileSize } : {}),
          registeredAt: new Date().toISOString(),
        });
        metaWritten = true;
        // references first: a valid path always has its whole closure (a reference's entry in
        // `committed` exists from the moment this path's narinfo named it)
        await Promise.all(node.refs.filter((b) => b !== sp.basename).map((b) => committed.get(b)?.promise));
        commitPath(stateDir, tmp, sp.basename);
        metaWritten = false;
        result.fetched.push(sp.path);
        result.narBytes += info.narSize;
        emit({ type: 'path-done', path: sp.path, substituter, fileBytes: r.fileBytes, narBytes: r.size, ms: Date.now() - started });
        done.resolve();
      } catch (e) {
        rmSync(tmp, { recursive: true, force: true });
        if (metaWritten) removePathMeta(stateDir, sp.basename);
        throw explain(e, sp.path, substituter);
      }
    } catch (e) {
      done.reject(e);
      throw e;
    } finally {
      lock?.release();
    }
  };

  try {
    for (const b of roots) visit(b);
    // lookups found later are appended while we wait
    for (let i = 0; i < lookups.length; i++) await lookups[i];
    // also when nothing was missing: the store's directories exist afterwards, as callers expect
    storeDirs();
  } catch (e) {
    // visit() itself failed (a corrupt metadata record), or the store cannot be made
    fail(e);
  }
  const all = [...nodes.values()];
  if (!walkFailed) {
    const missing = all.filter((n) => !n.present);
    result.closure = all.map((n) => n.sp.path).sort();
    // appended to, not replaced: paths found done under their lock may already be listed
    result.present.push(...all.filter((n) => n.present).map((n) => n.sp.path));
    emit({
      type: 'closure',
      paths: result.closure,
      missing: missing.map((n) => n.sp.path).sort(),
      narBytes: missing.reduce((s, n) => s + n.narinfo!.info.narSize, 0),
      fileBytes: totalFileBytes,
    });
    for (const n of all) if (n.present) emit({ type: 'path-present', path: n.sp.path });
  }

  // a task starts when its lock arrives, which may be after the walk: every path settles
  await Promise.allSettled([...committed.values()].map((d) => d.promise));
  const settled = await Promise.allSettled(tasks);
  if (walkFailed) throw walkError;
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
  if (failures.length) {
    // the first real cause, not a follower's "aborted"
    throw failures.find((f) => isFloxError(f)) ?? failures[0];
  }
  if (opts.user) for (const n of all) addUser(stateDir, n.sp.basename, opts.user);
  result.fetched.sort();
  result.present.sort();
  return result;
}

async function openAll(urls: string[], fetchOpts: FetchOptions, retry: RetryOptions, emit: (e: RealiseEvent) => void): Promise<Substituter[]> {
  const opened = await Promise.all(
    urls.map(async (url, i) => {
      try {
        const s = await openSubstituter(url, fetchOpts, retry);
        emit({ type: 'substituter', url, priority: s.info.priority });
        return { s, i };
      } catch (e) {
        if (fetchOpts.signal?.aborted) throw e;
        emit({ type: 'substituter', url, error: (e as Error).message });
        return { error: `${url}: ${(e as Error).message}`, i };
      }
    }),
  );
  const ok = opened.flatMap((o) => ('s' in o && o.s ? [{ s: o.s, i: o.i }] : []));
  if (!ok.length) {
    const why = opened.map((o) => ('error' in o ? o.error : '')).filter(Boolean);
    throw new FloxError('nix-fetch', urls.length ? `no usable substituter: ${why.join('; ')}` : 'no substituters configured (nix.substituters)');
  }
  return ok.sort((a, b) => a.s.info.priority - b.s.info.priority || a.i - b.i).map((o) => o.s);
}

async function lookup(
  storePath: string,
  substituters: () => Promise<Substituter[]>,
  keys: PublicKey[],
  fetchOpts: FetchOptions,
  retry: RetryOptions,
  only?: string,
  /** substituters not to ask (a NAR from them failed already) */
  skip?: Set<string>,
): Promise<TrustedNarInfo> {
  // nix-cache-info goes out first (the first lookup asks for it), ahead of the narinfos
  const opened = substituters();
  // With a single substituter there is no order to decide: its narinfo is asked for alongside
  // its nix-cache-info instead of one round trip later (and used only once that checked out).
  const early = only !== undefined ? fetchNarInfo(only, storePath, fetchOpts, retry) : undefined;
  early?.catch(() => {});
  const subs = await opened;
  const untrusted: string[] = [];
  const errors: string[] = [];
  for (const sub of subs) {
    if (skip?.has(sub.url)) continue;
    let info;
    try {
      info = await (sub.url === only && early ? early : fetchNarInfo(sub.url, storePath, fetchOpts, retry));
    } catch (e) {
      if (fetchOpts.signal?.aborted) throw e;
      errors.push(`${sub.url}: ${(e as Error).message}`);
      continue;
    }
    if (!info) continue;
    const trust = trustOf(info, keys);
    if (trust) return { info, trust, substituter: sub.url };
    const signers = info.sigs.map((s) => s.slice(0, s.indexOf(':'))).join(', ') || 'nobody';
    untrusted.push(`${sub.url} (signed by: ${signers})`);
  }
  if (untrusted.length) {
    throw new FloxError(
      'nix-signature',
      `refusing ${storePath}: no valid signature from a trusted key (${keys.map((k) => k.name).join(', ') || 'none configured'}) at ${untrusted.join('; ')}; check nix.trusted-public-keys`,
    );
  }
  if (errors.length) throw new FloxError('nix-fetch', `cannot look up ${storePath}: ${errors.join('; ')}`);
  throw new FloxError('nix-missing', `${storePath} is not in any substituter (tried ${subs.map((s) => s.url).join(', ')})`);
}

/** Failures that another substituter may not have: the server's, or the NAR's it served. */
function fallbackWorthy(e: unknown): boolean {
  if (e instanceof TransientError || e instanceof HttpStatusError) return true;
  return isFloxError(e) && (e.kind === 'nix-fetch' || e.kind === 'nix-hash' || e.kind === 'nix-nar');
}

function sameMembers(a: string[], b: string[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((x) => set.has(x));
}

/** text and flat CA paths are trusted by the hash of their contents, so check that too. */
function checkFlatContent(ca: string, rootFileSha256: Buffer | undefined, path: string, substituter: string): void {
  const parsed = parseContentAddress(ca);
  if (!parsed || parsed.method === 'recursive') return;
  if (!rootFileSha256 || !rootFileSha256.equals(parsed.hash)) {
    throw new FloxError('nix-hash', `${path} from ${substituter}: contents do not match its content address ${ca}`);
  }
}

function explain(e: unknown, path: string, substituter: string): unknown {
  if (isFloxError(e)) return e;
  if (e instanceof TransientError) return new FloxError('nix-fetch', `cannot download ${path} from ${substituter}: ${e.message} (gave up after retries)`, { cause: e });
  if (e instanceof HttpStatusError) return new FloxError('nix-fetch', `cannot download ${path} from ${substituter}: ${e.message}`, { cause: e });
  if ((e as Error)?.name === 'AbortError') return e;
  return new FloxError('store', `cannot store ${path} (from ${substituter}): ${(e as Error).message}`, { cause: e });
}
