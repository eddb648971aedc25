// The node-wide gc lock: activations and `env pull` hold it shared from resolve to the usage
// record, `gc` holds it exclusive while it decides and deletes. So gc never sees a half-done
// activation (paths found present but not yet rendered), and activations never see a path
// vanish under them. Same mechanism as src/nix/lock.ts: util-linux flock locks our own open
// file description (fd 3), so the kernel drops the lock if we die.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock, type Lock, type LockMode } from '../nix/lock.js';

export type { LockMode } from '../nix/lock.js';

export const gcLockFile = (stateDir: string): string => join(stateDir, 'nix', 'locks', 'gc.lock');

/** Waits for the lock; with timeoutMs, fails with kind 'lock' when it is not free in time. */
export function acquireModeLock(file: string, mode: LockMode, timeoutMs?: number): Promise<Lock> {
  return acquireLock(file, { mode, ...(timeoutMs !== undefined && { timeoutMs }) });
}

export async function lockGc(stateDir: string, mode: LockMode, timeoutMs?: number): Promise<Lock> {
  mkdirSync(join(stateDir, 'nix', 'locks'), { recursive: true, mode: 0o755 });
  return acquireModeLock(gcLockFile(stateDir), mode, timeoutMs);
}

/** Runs f with the gc lock held shared (node store mode only: host Nix has its own GC). */
export async function withGcShared<T>(config: { runtime: { stateDir: string; storeMode: string } }, f: () => Promise<T>): Promise<T> {
  if (config.runtime.storeMode === 'nix') return f();
  const lock = await lockGc(config.runtime.stateDir, 'shared');
  try {
    return await f();
  } finally {
    lock.release();
  }
}

export interface PendingLock {
  /** resolves once the lock is held; rejects when it cannot be taken */
  ready(): Promise<void>;
  release(): void;
}

/**
 * Starts taking the gc lock shared now and lets the caller wait for it later: an activation
 * asks FloxHub first (gc never touches the FloxHub cache), so the flock process runs meanwhile
 * instead of adding its start-up to every container start.
 */
export function holdGcShared(config: { runtime: { stateDir: string; storeMode: string } }): PendingLock {
  if (config.runtime.storeMode === 'nix') return { ready: async () => {}, release: () => {} };
  const pending = lockGc(config.runtime.stateDir, 'shared');
  pending.catch(() => {}); // reported through ready()
  let released = false;
  return {
    ready: async () => {
      await pending;
    },
    release: () => {
      if (released) return;
      released = true;
      pending.then((l) => l.release(), () => {});
    },
  };
}
