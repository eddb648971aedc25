// Cross-process exclusive locks with flock(2) semantics, which Node lacks. We open the lock file
// and let util-linux `flock` lock *our* open file description (passed as fd 3) and exit; the lock
// then lives exactly as long as our descriptor, so the kernel drops it if we die (kill -9).
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { FloxError } from '../errors.js';

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
  if (!files.length) return [];
  // stay well inside the fd limit of one child; batches run one after another
  if (files.length > BATCH) {
    const out: (Lock | undefined)[] = [];
    for (let i = 0; i < files.length; i += BATCH) out.push(...(await tryLockMany(files.slice(i, i + BATCH))));
    return out;
  }
  const fds = files.map((f) => openSync(f, 'a', 0o600));
  const got = new Set<number>();
  try {
    await new Promise<void>((resolve, reject) => {
      // fd 3.. in the child are our descriptors; it prints the ones it locked
      const script = 'i=3; for f in "$@"; do if flock --nonblock --exclusive "$i"; then echo "$i"; fi; i=$((i+1)); done';
      const child = spawn('sh', ['-c', script, 'sh', ...files.map(() => '')], { stdio: ['ignore', 'pipe', 'pipe', ...fds] });
      let out = '';
      let err = '';
      child.stdout?.on('data', (d: Buffer) => void (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => void (err += d.toString()));
      child.on('error', (e) => reject(new FloxError('store', `cannot lock store paths: ${e.message}; util-linux flock must be installed`)));
      child.on('close', (code) => {
        if (code !== 0) return reject(new FloxError('store', `cannot lock store paths: sh exited with ${code}: ${err.trim()}`));
        for (const l of out.split('\n').filter(Boolean)) got.add(Number(l) - 3);
        resolve();
      });
    });
  } catch (e) {
    for (const fd of fds) closeSync(fd);
    throw e;
  }
  return fds.map((fd, i) => {
    if (!got.has(i)) {
      closeSync(fd);
      return undefined;
    }
    let held = true;
    return {
      release() {
        if (held) closeSync(fd);
        held = false;
      },
    };
  });
}
