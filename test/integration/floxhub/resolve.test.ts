// resolveEnvironment against a real git smart-HTTP hub (git http-backend) with the fixture's
// floxmeta repositories: live and pinned generations, pushes between container starts, private
// owners, an unreachable hub with and without a cached copy, and malformed content.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloxError } from '../../../src/errors.js';
import { cachedLiveGeneration, type ResolveOptions, resolveEnvironment, startHeadCheck } from '../../../src/floxhub/index.js';
import { createLogger } from '../../../src/log/logger.js';
import { startTestHub, type TestHub } from '../../support/hub.js';

let hub: TestHub;
let work: string;
beforeAll(async () => {
  hub = await startTestHub();
  work = mkdtempSync(join(tmpdir(), 'floxhub-resolve-'));
});
afterAll(async () => {
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
function opts(extra: Partial<ResolveOptions> = {}): ResolveOptions & { logFile: string } {
  const logFile = join(work, `log-${n}.jsonl`);
  return { gitUrl: hub.gitUrl, stateDir: join(work, `state-${n++}`), timeoutMs: 5000, log: createLogger({ file: logFile, level: 'debug' }), logFile, ...extra };
}

/** Pushes a new generation of public-owner/<name> that installs hello. */
function pushHello(name: string, metadataVersion: 1 | 2): void {
  const f = hub.fixtures;
  const toml = 'version = 1\n[install]\nhello.pkg-path = "hello"\n';
  f.pushGeneration({ outDir: hub.outDir, owner: 'public-owner', name, manifestToml: toml, lock: f.makeLock(toml, [f.catalogEntry('hello', hub.nix.packages.hello!)]), metadataVersion });
}

async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(FloxError);
    return (e as FloxError).kind;
  }
  return 'resolved';
}

/** Whether user 65534 (no groups) can run `argv`: root ignores mode bits, so ask someone else. */
const nobodyCan = (...argv: string[]) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...argv], { stdio: 'ignore' }).status === 0;

describe('file modes', () => {
  it("the FloxHub cache is root's alone: 0700 (also when an older version made it 0755), files 0600", async () => {
    const parent = mkdtempSync(join(tmpdir(), 'floxhub-modes-'));
    try {
      chmodSync(parent, 0o755); // mkdtemp's 0700 would hide everything from uid 65534 anyway
      const o = opts({ stateDir: join(parent, 'state') });
      const root = join(o.stateDir, 'floxhub');
      mkdirSync(root, { recursive: true });
      chmodSync(root, 0o755);
      writeFileSync(join(o.stateDir, 'control'), 'x', { mode: 0o644 });
      await resolveEnvironment({ owner: 'public-owner', name: 'multi' }, o);
      const locks = (readdirSync(root, { recursive: true }) as string[]).filter((p) => p.endsWith('manifest.lock'));
      expect(locks.length).toBeGreaterThan(0);
      expect(statSync(root).mode & 0o7777).toBe(0o700);
      for (const l of locks) expect(statSync(join(root, l)).mode & 0o777).toBe(0o600);
      expect(nobodyCan('cat', join(o.stateDir, 'control'))).toBe(true); // the check itself works
      expect(nobodyCan('ls', root)).toBe(false);
      expect(nobodyCan('cat', join(root, locks[0]!))).toBe(false);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe('live and pinned generations', () => {
  it('takes the live generation from the last history entry (after a rollback)', async () => {
    const r = await resolveEnvironment({ owner: 'public-owner', name: 'multi' }, opts());
    expect(r).toMatchObject({ generation: 2, live: true, fromCache: false, metadataVersion: 2, description: 'public-owner/multi' });
    expect(r.lock.packages.map((p) => p.installId)).toEqual(['hello2']);
    expect(r.commit).toBe(hub.summary.envs['public-owner/multi']!.commit);
  });

  it('reads a pinned generation, also one that is not live', async () => {
    const r = await resolveEnvironment({ owner: 'public-owner', name: 'multi', generation: 3 }, opts());
    expect(r).toMatchObject({ generation: 3, live: false });
    expect(r.lock.packages.map((p) => p.installId).sort()).toEqual(['busybox', 'hello']);
    expect(r.manifestToml).toContain('busybox.pkg-path');
  });

  it('keeps only the generations used; another one of a cached commit is fetched once', async () => {
    const o = opts();
    const live = await resolveEnvironment({ owner: 'public-owner', name: 'multi' }, o);
    const p3 = await resolveEnvironment({ owner: 'public-owner', name: 'multi', generation: 3 }, o);
    expect(p3).toMatchObject({ generation: 3, fromCache: false, commit: live.commit });
    expect(await resolveEnvironment({ owner: 'public-owner', name: 'multi', generation: 3 }, o)).toMatchObject({ fromCache: true });
    const { readdirSync } = await import('node:fs');
    const { envCacheDir, commitDir } = await import('../../../src/floxhub/cache.js');
    const cdir = commitDir(envCacheDir(o.stateDir, o.gitUrl, 'public-owner', 'multi'), live.commit);
    expect(readdirSync(cdir).sort()).toEqual(['.complete', '2', '3', 'metadata.json']);
  });

  it('reads v1 (camelCase) metadata', async () => {
    const r = await resolveEnvironment({ owner: 'public-owner', name: 'gitlab' }, opts());
    expect(r).toMatchObject({ generation: 1, metadataVersion: 1 });
    expect(r.manifest.vars).toEqual({ CI_TOOLCHAIN: 'flox' });
  });

  it('a missing generation is its own error, naming the ones that exist', async () => {
    const p = resolveEnvironment({ owner: 'public-owner', name: 'multi', generation: 9 }, opts());
    await expect(p).rejects.toThrow(/no generation 9 \(it has 1, 2, 3, live 2\)/);
    expect(await kindOf(resolveEnvironment({ owner: 'public-owner', name: 'multi', generation: 9 }, opts()))).toBe('floxhub-generation');
  });

  it('picks up a generation pushed between two container starts, fetching only new commits', async () => {
    const o = opts();
    const { outDir } = hub;
    const first = await resolveEnvironment({ owner: 'public-owner', name: 'hello' }, o);
    const again = await resolveEnvironment({ owner: 'public-owner', name: 'hello' }, o);
    expect(first).toMatchObject({ generation: 1, fromCache: false });
    expect(again).toMatchObject({ generation: 1, fromCache: true, commit: first.commit });
    const pushed = hub.fixtures.pushPackages({ outDir, owner: 'public-owner', name: 'hello', paths: hub.nix, roles: ['hello2'] });
    const after = await resolveEnvironment({ owner: 'public-owner', name: 'hello' }, o);
    expect(after).toMatchObject({ generation: 2, fromCache: false, commit: pushed.commit });
    expect(Object.values((after.lock.packages[0]!).outputs)[0]).toBe(hub.nix.packages.hello2!.out);
    // the pinned old generation still resolves, from the cache
    const pinned = await resolveEnvironment({ owner: 'public-owner', name: 'hello', generation: 1 }, o);
    expect(pinned).toMatchObject({ generation: 1, fromCache: true });
  });
});

describe('the head check sent early (before the activation code loads)', () => {
  it('is the one ref request of a warm resolve; its answer picks the generation', async () => {
    const o = opts();
    const first = await resolveEnvironment({ owner: 'public-owner', name: 'multi' }, o);
    hub.resetRequests();
    const headCheck = startHeadCheck(hub.gitUrl, 'public-owner', { timeoutMs: 5000 });
    await headCheck.sent;
    expect(hub.requests()).toBeLessThanOrEqual(1);
    const r = await resolveEnvironment({ owner: 'public-owner', name: 'multi' }, { ...o, headCheck });
    expect(r).toMatchObject({ commit: first.commit, generation: first.generation, fromCache: true });
    expect(hub.requests()).toBe(1);
  });

  it('asked with another token (or another owner) it is not used: resolve asks itself', async () => {
    const o = opts();
    await resolveEnvironment({ owner: 'public-owner', name: 'multi' }, o);
    for (const [owner, token] of [['public-owner', 'someone-else'], ['private-owner', undefined]] as const) {
      const headCheck = startHeadCheck(hub.gitUrl, owner, { token, timeoutMs: 5000 });
      await headCheck.refs.catch(() => {});
      hub.resetRequests();
      await resolveEnvironment({ owner: 'public-owner', name: 'multi' }, { ...o, headCheck });
      expect(hub.requests()).toBe(1);
    }
  });

  it('its failure is handled like resolve\'s own: hub down falls back to the cached generation', async () => {
    const o = opts();
    const before = await resolveEnvironment({ owner: 'public-owner', name: 'static' }, o);
    hub.setDown('503');
    try {
      const headCheck = startHeadCheck(hub.gitUrl, 'public-owner', { timeoutMs: 5000 });
      await headCheck.sent;
      const r = await resolveEnvironment({ owner: 'public-owner', name: 'static' }, { ...o, headCheck });
      expect(r).toMatchObject({ fromCache: true, commit: before.commit });
      expect(r.staleReason).toMatch(/503/);
    } finally {
      hub.setDown('');
    }
  });
});

describe('the guess from the node cache (worked on while the hub is asked)', () => {
  it('is taken as is when the hub names the same commit, and not after a push', async () => {
    const o = opts();
    const push = () => pushHello('guessed', 2);
    push();
    expect(await cachedLiveGeneration({ owner: 'public-owner', name: 'guessed' }, o)).toBeUndefined(); // never resolved here
    const first = await resolveEnvironment({ owner: 'public-owner', name: 'guessed' }, o);
    const guess = await cachedLiveGeneration({ owner: 'public-owner', name: 'guessed' }, o);
    expect(guess).toMatchObject({ commit: first.commit, generation: first.generation, fromCache: true });
    expect(await resolveEnvironment({ owner: 'public-owner', name: 'guessed' }, { ...o, cachedHead: guess })).toBe(guess);
    push();
    const after = await resolveEnvironment({ owner: 'public-owner', name: 'guessed' }, { ...o, cachedHead: guess });
    expect(after).not.toBe(guess);
    expect(after).toMatchObject({ generation: first.generation + 1, fromCache: false });
    expect(after.commit).not.toBe(first.commit);
    // the guess follows the hub's last answer
    expect(await cachedLiveGeneration({ owner: 'public-owner', name: 'guessed' }, o)).toMatchObject({ commit: after.commit });
  });

  it('is never made for a pinned generation, nor from a private cache entry without its token', async () => {
    const o = opts({ token: hub.token });
    await resolveEnvironment({ owner: 'private-owner', name: 'secret' }, o);
    expect(await cachedLiveGeneration({ owner: 'private-owner', name: 'secret' }, o)).toMatchObject({ fromCache: true });
    const { token: _t, ...anonymous } = o;
    expect(await cachedLiveGeneration({ owner: 'private-owner', name: 'secret' }, anonymous)).toBeUndefined();
    expect(await cachedLiveGeneration({ owner: 'private-owner', name: 'secret' }, { ...o, token: 'another-token' })).toBeUndefined();
    expect(await cachedLiveGeneration({ owner: 'private-owner', name: 'secret', generation: 1 }, o)).toBeUndefined();
  });
});

describe('private environments', () => {
  it('without a token: an auth error that says how to mount the token', async () => {
    const p = resolveEnvironment({ owner: 'private-owner', name: 'secret' }, opts());
    await expect(p).rejects.toThrow(/private and no FloxHub token.*floxhub-token/);
    expect(await kindOf(resolveEnvironment({ owner: 'private-owner', name: 'secret' }, opts()))).toBe('floxhub-auth');
  });

  it('with a wrong token: an auth error about the token, never its value', async () => {
    const o = opts({ token: 'wrong-token-value-123' });
    const err = await resolveEnvironment({ owner: 'private-owner', name: 'secret' }, o).catch((e: FloxError) => e);
    expect(err).toBeInstanceOf(FloxError);
    expect((err as FloxError).kind).toBe('floxhub-auth');
    expect((err as FloxError).message).toMatch(/refused the token.*expired/);
    expect((err as FloxError).message).not.toContain('wrong-token-value-123');
  });

  it('with the token: resolves, and neither the log nor the cache holds the token', async () => {
    const o = opts({ token: hub.token });
    const r = await resolveEnvironment({ owner: 'private-owner', name: 'secret' }, o);
    expect(r.generation).toBe(1);
    const { execFileSync } = await import('node:child_process');
    const grep = execFileSync('sh', ['-c', 'grep -r -l -F -- "$1" "$2" "$3" || true', 'sh', hub.token, o.stateDir, o.logFile], { encoding: 'utf8' });
    expect(grep.trim()).toBe('');
  });

  it('a cached private generation is not handed out offline to a pod without a token', async () => {
    const o = opts({ token: hub.token });
    await resolveEnvironment({ owner: 'private-owner', name: 'secret', generation: 1 }, o);
    hub.setDown('503');
    try {
      const anon = { ...o, token: undefined };
      expect(await kindOf(resolveEnvironment({ owner: 'private-owner', name: 'secret', generation: 1 }, anon))).toBe('floxhub-unreachable');
      const r = await resolveEnvironment({ owner: 'private-owner', name: 'secret', generation: 1 }, o);
      expect(r.fromCache).toBe(true);
    } finally {
      hub.setDown('');
    }
  });
});

describe('not found', () => {
  it('an unknown environment of a known owner', async () => {
    await expect(resolveEnvironment({ owner: 'public-owner', name: 'nope' }, opts())).rejects.toThrow(/not found.*no branch "nope"/);
  });
  it('an unknown owner', async () => {
    expect(await kindOf(resolveEnvironment({ owner: 'nobody', name: 'x' }, opts()))).toBe('floxhub-not-found');
  });
  it('refuses names that are not safe as paths before any request', async () => {
    hub.resetRequests();
    expect(await kindOf(resolveEnvironment({ owner: '..', name: 'x' }, opts()))).toBe('usage');
    expect(await kindOf(resolveEnvironment({ owner: 'a', name: 'x/../../y' }, opts()))).toBe('usage');
    expect(hub.requests()).toBe(0);
  });
});

describe('FloxHub down', () => {
  for (const mode of ['503', 'close'] as const) {
    it(`(${mode}) without a cache: floxhub-unreachable`, async () => {
      hub.setDown(mode);
      try {
        const err = await resolveEnvironment({ owner: 'public-owner', name: 'hello' }, opts()).catch((e: FloxError) => e);
        expect((err as FloxError).kind).toBe('floxhub-unreachable');
        expect((err as FloxError).message).toMatch(/cannot reach FloxHub.*no cached copy/);
      } finally {
        hub.setDown('');
      }
    });

    it(`(${mode}) with a cache: the cached live generation, with a warning in the log`, async () => {
      const o = opts();
      const before = await resolveEnvironment({ owner: 'public-owner', name: 'static' }, o);
      hub.setDown(mode);
      try {
        const r = await resolveEnvironment({ owner: 'public-owner', name: 'static' }, o);
        expect(r).toMatchObject({ fromCache: true, commit: before.commit, generation: before.generation });
        expect(r.staleReason).toBeTruthy();
        const warn = readFileSync(o.logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.level === 'warn');
        expect(warn).toMatchObject({ msg: expect.stringMatching(/unreachable, using cached/), environment: 'public-owner/static' });
      } finally {
        hub.setDown('');
      }
    });
  }

  it('the ref check works but the fetch fails: the cached generation, or unreachable without one', async () => {
    const o = opts();
    const push = () => pushHello('flaky', 1);
    push();
    const before = await resolveEnvironment({ owner: 'public-owner', name: 'flaky' }, o);
    push();
    hub.setDown('fetch');
    try {
      const r = await resolveEnvironment({ owner: 'public-owner', name: 'flaky' }, o);
      expect(r).toMatchObject({ fromCache: true, commit: before.commit, generation: 1 });
      expect(r.staleReason).toMatch(/fetching environment public-owner\/flaky/);
      expect(await kindOf(resolveEnvironment({ owner: 'public-owner', name: 'flaky' }, opts()))).toBe('floxhub-unreachable');
    } finally {
      hub.setDown('');
    }
    // once the hub is whole again: the new generation (v1 metadata, generation 2)
    expect(await resolveEnvironment({ owner: 'public-owner', name: 'flaky' }, o)).toMatchObject({ generation: 2, fromCache: false, metadataVersion: 1 });
  });

  it('a cached pinned generation needs no network at all', async () => {
    const o = opts();
    await resolveEnvironment({ owner: 'public-owner', name: 'multi', generation: 1 }, o);
    hub.resetRequests();
    hub.setDown('close');
    try {
      const r = await resolveEnvironment({ owner: 'public-owner', name: 'multi', generation: 1 }, o);
      expect(r).toMatchObject({ generation: 1, fromCache: true });
      expect(hub.requests()).toBe(0);
    } finally {
      hub.setDown('');
    }
  });

  it('an unreachable URL (nothing listening) within the timeout', async () => {
    const t0 = Date.now();
    const o = opts({ gitUrl: 'http://127.0.0.1:9/git', timeoutMs: 2000 });
    expect(await kindOf(resolveEnvironment({ owner: 'public-owner', name: 'hello' }, o))).toBe('floxhub-unreachable');
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

describe('malformed content', () => {
  it('metadata.json', async () => {
    const err = await resolveEnvironment({ owner: 'public-owner', name: 'badmeta' }, opts()).catch((e: FloxError) => e);
    expect(err).toMatchObject({ kind: 'floxhub-malformed', message: expect.stringMatching(/public-owner\/badmeta.*metadata\.json is not JSON/) });
  });
  it('manifest.toml', async () => {
    const err = await resolveEnvironment({ owner: 'public-owner', name: 'badmanifest' }, opts()).catch((e: FloxError) => e);
    expect(err).toMatchObject({ kind: 'floxhub-malformed', message: expect.stringMatching(/manifest\.toml is not valid TOML/) });
  });
  it('manifest.lock', async () => {
    const err = await resolveEnvironment({ owner: 'public-owner', name: 'badlock' }, opts()).catch((e: FloxError) => e);
    expect(err).toMatchObject({ kind: 'lock', message: expect.stringMatching(/badlock:1: manifest\.lock package #0/) });
  });
  it('a generation without manifest.lock', async () => {
    const err = await resolveEnvironment({ owner: 'public-owner', name: 'nolock' }, opts()).catch((e: FloxError) => e);
    expect(err).toMatchObject({ kind: 'lock', message: expect.stringMatching(/has no manifest\.lock/) });
  });
});
