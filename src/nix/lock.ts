// Cross-process exclusive locks with flock(2) semantics, which Node lacks. We open the lock file
// and let util-linux `flock` lock *our* open file description (passed as fd 3) and exit; the lock
// then lives exactly as long as our descriptor, so the kernel drops it if we die (kill -9).
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { FloxError } from '../errors.js';
import { type Deferred, deferred } from './limit.js';

export interface Lock {
  release(): void;
}

export type LockMode = 'shared' | 'exclusive';

export interface LockOptions {
  mode?: LockMode;
  signal?: AbortSignal;
  /** give up (FloxError kind 'lock') when the lock is not free within this many ms */
  timeoutMs?: number;
}

/** Waits for a flock(2) lock on `file` (exclusive by default), held until release(). */
export async function acquireLock(file: string, signalOrOpts?: AbortSignal | LockOptions): Promise<Lock> {
  const opts: LockOptions = signalOrOpts instanceof AbortSignal ? { signal: signalOrOpts } : (signalOrOpts ?? {});
  const { signal, timeoutMs } = opts;
  signal?.throwIfAborted();
  const args = [`--${opts.mode ?? 'exclusive'}`, ...(timeoutMs !== undefined ? ['--timeout', String(Math.max(0, timeoutMs) / 1000)] : []), '3'];
  // libuv opens with O_CLOEXEC, so this descriptor leaks into no other child
  const fd = openSync(file, 'a', 0o600);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('flock', args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => void (stderr += d.toString()));
      const onAbort = () => child.kill('SIGKILL');
      signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (e) => {
        signal?.removeEventListener('abort', onAbort);
        reject(new FloxError('store', `cannot lock ${file}: running flock failed (${e.message}); util-linux flock must be installed`));
      });
      child.on('close', (code) => {
        signal?.removeEventListener('abort', onAbort);
        if (code === 0) resolve();
        else if (signal?.aborted) reject(signal.reason);
        else if (code === 1 && timeoutMs !== undefined) reject(new FloxError('lock', `${file} is held by another process (waited ${timeoutMs} ms)`));
        else reject(new FloxError('store', `cannot lock ${file}: flock exited with ${code}: ${stderr.trim()}`));
      });
    });
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let held = true;
  return {
    release() {
      if (held) closeSync(fd);
      held = false;
    },
  };
}

/**
 * Tries to lock many files at once without waiting, with one child process for all of them
 * (a spawn per path costs more than a small download). Returns the locks it got, undefined
 * where another process holds the lock.
 */
const BATCH = 200;

export async function tryLockMany(files: string[]): Promise<(Lock | undefined)[]> {
  const settled = await Promise.allSettled(tryLockEach(files));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    for (const s of settled) if (s.status === 'fulfilled') s.value?.release();
    throw failed.reason;
  }
  return settled.map((s) => (s as PromiseFulfilledResult<Lock | undefined>).value);
}

/**
 * tryLockMany, one promise per file, each settled as soon as the child has tried that file (a
 * caller can start on the first path while the child is still locking the others). A lock a
 * promise resolved with is the caller's to release, even if a later file fails.
 */
export function tryLockEach(files: string[]): Promise<Lock | undefined>[] {
  if (!files.length) return [];
  // stay well inside the fd limit of one child; batches run one after another
  if (files.length > BATCH) {
    const first = tryLockEach(files.slice(0, BATCH));
    const rest = Promise.allSettled(first).then(() => tryLockEach(files.slice(BATCH)));
    return [...first, ...files.slice(BATCH).map((_, i) => rest.then((r) => r[i]!))];
  }
  const pending = files.map(() => deferred<Lock | undefined>());
  // Opened here and now: the child that locks them is the critical path of a cold realise (the
  // first download waits for its lock), and opens queued behind a busy main thread delayed it.
  const fds: number[] = [];
  try {
    for (const f of files) fds.push(openSync(f, 'a', 0o600));
  } catch (e) {
    for (const fd of fds) closeSync(fd);
    for (const p of pending) p.reject(e);
    return pending.map((p) => p.promise);
  }
  lockFds(fds, pending);
  return pending.map((p) => p.promise);
}

function lockFds(fds: number[], pending: Deferred<Lock | undefined>[]): void {
  const settled = new Set<number>();
  const settle = (i: number, locked: boolean) => {
    if (settled.has(i) || i < 0 || i >= fds.length) return;
    settled.add(i);
    const fd = fds[i]!;
    if (!locked) {
      closeSync(fd);
      return pending[i]!.resolve(undefined);
    }
    let held = true;
    pending[i]!.resolve({
      release() {
        if (held) closeSync(fd);
        held = false;
      },
    });
  };
  const fail = (e: Error) => {
    for (let i = 0; i < fds.length; i++) {
      if (settled.has(i)) continue;
      settled.add(i);
      closeSync(fds[i]!);
      pending[i]!.reject(e);
    }
  };
  // fd 3.. in the child are our descriptors; it prints +n or -n per descriptor as it goes. One
  // file needs no shell around flock.
  const child =
    fds.length === 1
      ? spawn('flock', ['--nonblock', '--exclusive', '3'], { stdio: ['ignore', 'ignore', 'pipe', fds[0]!] })
      : spawn('sh', ['-c', 'i=3; for f in "$@"; do if flock --nonblock --exclusive "$i"; then echo "+$i"; else echo "-$i"; fi; i=$((i+1)); done', 'sh', ...fds.map(() => '')], {
          stdio: ['ignore', 'pipe', 'pipe', ...fds],
        });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    out = lines.pop()!;
    for (const l of lines) if (/^[+-][0-9]+$/.test(l)) settle(Number(l.slice(1)) - 3, l[0] === '+');
  });
  child.stderr?.on('data', (d: Buffer) => void (err += d.toString()));
  child.on('error', (e) => fail(new FloxError('store', `cannot lock store paths: ${e.message}; util-linux flock must be installed`)));
  child.on('close', (code) => {
    // flock --nonblock exits 1 when the lock is held elsewhere
    if (fds.length === 1 && (code === 0 || code === 1)) return settle(0, code === 0);
    if (code !== 0 || settled.size !== fds.length) fail(new FloxError('store', `cannot lock store paths: ${fds.length === 1 ? 'flock' : 'sh'} exited with ${code}: ${err.trim()}`));
  });
}
