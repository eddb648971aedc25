// Binary cache faults at the binary level: the real signed fixture caches served from 127.0.0.1
// with one fault injected per case. A failed create names the path and the substituter, calls no
// runc, leaves config.json alone and no partial store path; a bounded time; then it recovers.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DIST } from '../support/paths.js';
import { startTestHub, type TestHub } from '../support/hub.js';
import { narGets, serveDirectory, type CacheServer, type Hook } from '../support/nixcache.js';
import { makeBundle, makeWork, runCreate, sha256, stateProblems, storePaths, writeConfig, type Work } from './support.js';

const ENV = 'flox.dev/environment';
let hub: TestHub;
let none: CacheServer;
let zstd: CacheServer;
let work: Work;
let n = 0;

beforeAll(async () => {
  if (!existsSync(DIST)) throw new Error('dist/ missing: run `npm run build` (npm test does)');
  hub = await startTestHub();
  none = await serveDirectory(hub.nix.caches.none!);
  zstd = await serveDirectory(hub.nix.caches.zstd!);
  work = makeWork('faults-subst');
}, 240_000);
afterAll(async () => {
  await none?.close();
  await zstd?.close();
  await hub?.close();
  if (work) rmSync(work.dir, { recursive: true, force: true });
});
beforeEach(() => {
  none.hook = undefined;
  zstd.hook = undefined;
});

function setup(substituters: string[], nixTimeoutMs = 3000, extraNix = '') {
  const i = ++n;
  const stateDir = join(work.dir, `state-${i}`);
  const config = writeConfig(join(work.dir, `config-${i}.toml`), {
    stateDir,
    gitUrl: hub.gitUrl,
    substituters,
    publicKey: hub.nix.publicKey,
    logFile: join(work.dir, `runtime-${i}.log`),
    nixTimeoutMs,
    nixExtra: extraNix,
  });
  return { stateDir, config };
}

const isNar = (path: string) => path.startsWith('/nar/');
const fileOf = (server: CacheServer, path: string) => join(server === none ? hub.nix.caches.none! : hub.nix.caches.zstd!, path);

/** One cold create of public-owner/static with a fault hook; returns the failure and checks the contract. */
async function failing(server: CacheServer, hook: Hook, nixTimeoutMs = 3000, extraNix = '') {
  const { stateDir, config } = setup([server.url], nixTimeoutMs, extraNix);
  const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/static' });
  const before = sha256(join(bundle, 'config.json'));
  server.hook = hook;
  const r = await runCreate(work, bundle, { config });
  server.hook = undefined;
  expect(r.stderr, 'exactly one flox: line on stderr').toMatch(/^flox: [^\n]*\n$/);
  expect(r.status).toBe(1);
  expect(r.record).toBeUndefined();
  expect(r.logMsg).toMatch(/^flox: /);
  expect(r.logMsg).toContain('public-owner/static');
  expect(r.logMsg).toContain('container build of pod ci/runner-abc');
  expect(r.stderr).toBe(`${r.logMsg}\n`);
  expect(sha256(join(bundle, 'config.json'))).toBe(before);
  expect(stateProblems(stateDir)).toEqual([]);
  // the fault is gone: the same start succeeds on the same state dir
  const ok = await runCreate(work, bundle, { config });
  expect(ok.status).toBe(0);
  expect(ok.record).toBeDefined();
  expect(stateProblems(stateDir)).toEqual([]);
  return { ...r, msg: r.logMsg!, stateDir };
}

describe('substituter faults', () => {
  it('404 for every narinfo: nix-missing naming the path and the substituter', async () => {
    const r = await failing(none, (req, res, path) => (path.endsWith('.narinfo') ? (res.writeHead(404).end(), true) : false));
    expect(r.msg).toMatch(/\/nix\/store\/[0-9a-z]{32}-/);
    expect(r.msg).toContain(none.url);
  });

  it('500 for every NAR: gives up after the retries, naming the substituter', async () => {
    const r = await failing(none, (req, res, path) => (isNar(path) ? (res.writeHead(500).end(), true) : false));
    expect(r.msg).toMatch(/cannot download \/nix\/store\/[0-9a-z]{32}-.* from http:\/\/127\.0\.0\.1:\d+.*gave up after retries/);
  });

  it('a NAR that stalls after its first bytes: bounded by nix.timeout-ms and the retries', async () => {
    const r = await failing(
      none,
      (req, res, path) => {
        if (!isNar(path)) return false;
        const body = readFileSync(fileOf(none, path));
        res.writeHead(200, { 'content-length': body.length });
        res.write(body.subarray(0, 64)); // then nothing
        return true;
      },
      700,
    );
    expect(r.msg).toMatch(/no data for 700 ms/);
    // 4 attempts of 0.7 s plus backoff (0.2+0.4+0.8 s) plus Node's start: well under 15 s
    expect(r.ms).toBeLessThan(15_000);
  });

  it('a NAR that trickles forever (never stalls long enough to time out): bounded by nix.deadline-ms as a whole', async () => {
    const r = await failing(
      none,
      (req, res, path) => {
        if (!isNar(path)) return false;
        const body = readFileSync(fileOf(none, path));
        res.writeHead(200, { 'content-length': body.length });
        let off = 0;
        const tick = () => {
          if (res.destroyed || off >= body.length - 1) return; // never the last byte
          res.write(body.subarray(off, off + 1));
          off += 1;
          setTimeout(tick, 300);
        };
        tick();
        return true;
      },
      1000,
      'deadline-ms = 2500',
    );
    expect(r.msg).toMatch(/took longer than nix\.deadline-ms \(2500 ms\)/);
    expect(r.ms).toBeLessThan(2500 + 4000);
  });

  it('a NAR truncated (connection ends early): nix-fetch, nothing half-unpacked in the store', async () => {
    const r = await failing(zstd, (req, res, path) => {
      if (!isNar(path)) return false;
      const body = readFileSync(fileOf(zstd, path));
      res.writeHead(200, { 'content-length': body.length });
      res.end(body.subarray(0, Math.floor(body.length / 2)));
      res.socket?.destroy();
      return true;
    });
    expect(r.msg).toMatch(/cannot download .* from http:\/\/127\.0\.0\.1/);
  });

  it('a corrupted NAR (one byte flipped, uncompressed): the hash check refuses it', async () => {
    const r = await failing(none, (req, res, path) => {
      if (!isNar(path)) return false;
      const body = Buffer.from(readFileSync(fileOf(none, path)));
      const i = body.length - 200;
      body[i] = body[i]! ^ 0x01;
      res.writeHead(200, { 'content-length': body.length }).end(body);
      return true;
    });
    expect(r.msg).toMatch(/hash|NarHash|does not match/i);
  });

  it('a corrupted compressed NAR (zstd) while the next closure level is still being looked up: refused with one flox: line, never committed', async () => {
    let narinfos = 0;
    const r = await failing(zstd, async (req, res, path) => {
      // the roots' narinfos answer at once, their references' only later: the download of a
      // root fails while the walk of the closure still waits (this once crashed the runtime
      // with an unhandled rejection instead of reporting the error)
      if (path.endsWith('.narinfo') && ++narinfos > 2) await new Promise((ok) => setTimeout(ok, 800));
      if (!isNar(path)) return false;
      const body = Buffer.from(readFileSync(fileOf(zstd, path)));
      for (let i = 40; i < body.length; i += 97) body[i] = body[i]! ^ 0x5a;
      res.writeHead(200, { 'content-length': body.length }).end(body);
      return true;
    });
    expect(r.msg).toMatch(/\/nix\/store\/[0-9a-z]{32}-/);
  });
});

describe('several substituters', () => {
  it('the first is down (connection refused), the second serves: the start succeeds', async () => {
    const { stateDir, config } = setup(['http://127.0.0.1:9/down', none.url]);
    const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/static' });
    const gets = narGets(none);
    const r = await runCreate(work, bundle, { config });
    expect(r.stderr).toBe('fake-stderr\n');
    expect(r.status).toBe(0);
    expect(narGets(none)).toBeGreaterThan(gets);
    expect(storePaths(stateDir).length).toBeGreaterThanOrEqual(2);
    expect(stateProblems(stateDir)).toEqual([]);
  });

  it('a slow but steady substituter (a chunk every 100 ms, timeout 1 s) is not a fault', async () => {
    const { stateDir, config } = setup([none.url], 1000);
    none.hook = (req, res, path) => {
      if (!isNar(path)) return false;
      const body = readFileSync(fileOf(none, path));
      res.writeHead(200, { 'content-length': body.length });
      const chunk = Math.ceil(body.length / 5);
      let off = 0;
      const tick = () => {
        if (off >= body.length) return void res.end();
        res.write(body.subarray(off, off + chunk));
        off += chunk;
        setTimeout(tick, 100);
      };
      tick();
      return true;
    };
    const bundle = makeBundle(work.dir, { [ENV]: 'public-owner/static' });
    const r = await runCreate(work, bundle, { config });
    expect(r.logMsg).toBeUndefined();
    expect(r.status).toBe(0);
    expect(stateProblems(stateDir)).toEqual([]);
  });
});
