// flock-based path locks: exclusive across open file descriptions, released on release() and
// by the kernel when the holder dies.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import { acquireLock, tryLockMany } from '../../../src/nix/lock.js';
import { Limiter } from '../../../src/nix/limit.js';

const dir = mkdtempSync(join(tmpdir(), 'flox-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const f = (n: string) => join(dir, `${n}.lock`);

it('tryLockMany gets free locks and skips held ones, in batches beyond 200', async () => {
  const held = await acquireLock(f('a'));
  const got = await tryLockMany([f('a'), f('b'), f('c')]);
  expect(got.map((l) => l !== undefined)).toEqual([false, true, true]);
  held.release();
  for (const l of got) l?.release();
  const many = await tryLockMany(Array.from({ length: 450 }, (_, i) => f(`m${i}`)));
  expect(many.filter(Boolean)).toHaveLength(450);
  for (const l of many) l?.release();
});

it('acquireLock waits for the holder to release', async () => {
  const first = await acquireLock(f('w'));
  let got = false;
  const second = acquireLock(f('w')).then((l) => ((got = true), l));
  await sleep(150);
  expect(got).toBe(false);
  first.release();
  (await second).release();
  expect(got).toBe(true);
});

it('a lock held by a process that is killed -9 is free again', async () => {
  // the child takes the lock with util-linux flock and sleeps holding it
  const child = spawn('flock', ['--exclusive', '--no-fork', f('k'), 'sleep', '30'], { stdio: 'ignore' });
  await sleep(200);
  expect((await tryLockMany([f('k')]))[0]).toBeUndefined();
  child.kill('SIGKILL');
  await new Promise((r) => child.on('close', r));
  const l = await acquireLock(f('k'));
  l.release();
});

it('an aborted wait rejects and leaves the lock to its holder', async () => {
  const first = await acquireLock(f('x'));
  const ctl = new AbortController();
  const waiting = acquireLock(f('x'), ctl.signal);
  setTimeout(() => ctl.abort(new Error('stop')), 50);
  await expect(waiting).rejects.toThrow('stop');
  expect((await tryLockMany([f('x')]))[0]).toBeUndefined();
  first.release();
});

it('Limiter runs at most n at once', async () => {
  const lim = new Limiter(2);
  let active = 0;
  let peak = 0;
  await Promise.all(
    Array.from({ length: 6 }, () =>
      lim.run(async () => {
        peak = Math.max(peak, ++active);
        await sleep(10);
        active--;
      }),
    ),
  );
  expect(peak).toBe(2);
});
