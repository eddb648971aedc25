// The node-wide gc lock: activations and `env pull` hold it shared from resolve to the usage
// record, `gc` holds it exclusive while it decides and deletes. So gc never sees a half-done
// activation (paths found present but not yet rendered), and activations never see a path
// vanish under them. Same mechanism as src/nix/lock.ts: util-linux flock locks our own open
// file description (fd 3), so the kernel drops the lock if we die.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { FloxError } from '../errors.js';
import type { Lock } from '../nix/lock.js';

export type LockMode = 'shared' | 'exclusive';

export const gcLockFile = (stateDir: string): string => join(stateDir, 'nix', 'locks', 'gc.lock');

/** Waits for the lock; with timeoutMs, fails with kind 'lock' when it is not free in time. */
export async function acquireModeLock(file: string, mode: LockMode, timeoutMs?: number): Promise<Lock> {
  const fd = openSync(file, 'a', 0o600);
  const args = [`--${mode}`, ...(timeoutMs !== undefined ? ['--timeout', String(Math.max(0, timeoutMs) / 1000)] : []), '3'];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('flock', args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => void (stderr += d.toString()));
      child.on('error', (e) => reject(new FloxError('store', `cannot lock ${file}: running flock failed (${e.message}); util-linux flock must be installed`)));
      child.on('close', (code) => {
        if (code === 0) resolve();
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
