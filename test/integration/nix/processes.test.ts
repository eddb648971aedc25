// Many processes at once, and a process killed mid-download: the two ways a node store is
// really used (pods starting together; kubelet or OOM killing the runtime).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hostPathOf, nodeStoreDir, readPathMeta, realiseClosure, type RealiseResult } from '../../../src/nix/index.js';
import { nixChildBundle } from '../../support/nix-bundle.js';
import { type CacheServer, type NixFixture, ensureNixFixture, narGets, serveDirectory } from '../../support/nixcache.js';

let fx: NixFixture;
let server: CacheServer;
let child: string;
const tmp = mkdtempSync(join(tmpdir(), 'flox-nix-proc-'));
const running: ChildProcess[] = [];

beforeAll(async () => {
  [fx, child] = await Promise.all([ensureNixFixture(), nixChildBundle()]);
  server = await serveDirectory(fx.dir);
});
afterAll(async () => {
  for (const c of running) if (c.exitCode === null) c.kill('SIGKILL');
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
  if (child) rmSync(child, { force: true });
});

const rolesAll = () => Object.values(fx.packages).flatMap((o) => Object.values(o));
const closureAll = () => [...new Set(Object.values(fx.closures).flat())].sort();

interface ChildRun {
  proc: ChildProcess;
  lines: unknown[];
  exit: Promise<number | null>;
  onLine: (f: (l: Record<string, unknown>) => void) => void;
}
function runChild(paths: string[], stateDir: string, cache: string): ChildRun {
  const arg = { paths, opts: { stateDir, substituters: [`${server.url}/cache-${cache}`], trustedPublicKeys: [fx.publicKey], user: `pod/${running.length}` } };
  const proc = spawn(process.execPath, [child, JSON.stringify(arg)], { stdio: ['ignore', 'pipe', 'inherit'] });
  running.push(proc);
  const lines: Record<string, unknown>[] = [];
  const listeners: ((l: Record<string, unknown>) => void)[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      lines.push(l);
      for (const f of listeners) f(l);
    }
  });
  const exit = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
  return { proc, lines, exit, onLine: (f) => listeners.push(f) };
}

function narHashOf(cache: string, sp: string) {
  return /^NarHash: (.*)$/m.exec(readFileSync(join(fx.caches[cache]!, `${sp.slice(11, 43)}.narinfo`), 'utf8'))![1];
}
function assertStoreComplete(stateDir: string, cache: string) {
  // whatever is visible in the store is complete, verified and registered
  for (const name of readdirSync(nodeStoreDir(stateDir)).filter((n) => !n.startsWith('.'))) {
    const sp = `/nix/store/${name}`;
    const h = execFileSync('nix-hash', ['--type', 'sha256', '--base32', hostPathOf(stateDir, sp)], { encoding: 'utf8' }).trim();
    expect(`sha256:${h}`, sp).toBe(narHashOf(cache, sp));
    expect(readPathMeta(stateDir, sp)?.narHash).toBe(narHashOf(cache, sp));
  }
}

it('8 processes realising the same closure at once: each NAR fetched once, all succeed', async () => {
  const stateDir = join(tmp, 'concurrent');
  // slow the NARs down a little so the processes really overlap
  server.hook = async (_req, _res, path) => {
    if (path.includes('/nar/')) await sleep(30);
    return false;
  };
  const before = narGets(server);
  const runs = Array.from({ length: 8 }, () => runChild(rolesAll(), stateDir, 'zstd'));
  const codes = await Promise.all(runs.map((r) => r.exit));
  server.hook = undefined;
  expect(codes).toEqual(Array(8).fill(0));
  const expected = closureAll();
  expect(narGets(server) - before).toBe(expected.length);
  const results = runs.map((r) => (r.lines.at(-1) as { result: RealiseResult }).result);
  for (const r of results) {
    expect(r.closure).toEqual(expected);
    expect([...r.fetched, ...r.present].sort()).toEqual(expected);
  }
  // every path was fetched by exactly one process; the others reused it
  expect(results.flatMap((r) => r.fetched).sort()).toEqual(expected);
  assertStoreComplete(stateDir, 'zstd');
  expect(readPathMeta(stateDir, fx.packages.busybox!.out!)!.users).toHaveLength(8);
});

it('kill -9 in the middle of a download leaves no partial path; a retry succeeds', async () => {
  const stateDir = join(tmp, 'killed');
  const busybox = fx.packages.busybox!.out!;
  const busyNar = /^URL: (.*)$/m.exec(readFileSync(join(fx.caches.none!, `${busybox.slice(11, 43)}.narinfo`), 'utf8'))![1]!;
  let stall = true;
  server.hook = (_req, res, path) => {
    if (!stall || path !== `/cache-none/${busyNar}`) return false;
    const body = readFileSync(join(fx.dir, path));
    res.writeHead(200, { 'content-length': body.length });
    res.write(body.subarray(0, body.length >> 1)); // half, then hang
    return true;
  };
  const run = runChild(rolesAll(), stateDir, 'none');
  await new Promise<void>((resolve) =>
    run.onLine((l) => {
      const e = l.event as { type?: string; path?: string; pathBytes?: number } | undefined;
      if (e?.type === 'progress' && e.path === busybox && (e.pathBytes ?? 0) > 500_000) resolve();
    }),
  );
  await sleep(200); // let the other paths finish
  run.proc.kill('SIGKILL');
  await run.exit;

  expect(existsSync(hostPathOf(stateDir, busybox))).toBe(false);
  // the half-written tree exists only in the hidden tmp dir, never under a store name
  expect(readdirSync(join(nodeStoreDir(stateDir), '.tmp')).some((n) => n.startsWith(busybox.slice(11)))).toBe(true);
  // and nothing that refers to busybox got in ahead of it
  for (const name of readdirSync(nodeStoreDir(stateDir)).filter((n) => !n.startsWith('.'))) {
    expect(readPathMeta(stateDir, `/nix/store/${name}`)!.references).not.toContain(busybox);
  }
  assertStoreComplete(stateDir, 'none');

  stall = false;
  const r = await realiseClosure(rolesAll(), { stateDir, substituters: [`${server.url}/cache-none`], trustedPublicKeys: [fx.publicKey], timeoutMs: 5000 });
  server.hook = undefined;
  expect(r.closure).toEqual(closureAll());
  expect(r.fetched).toContain(busybox);
  expect(readdirSync(join(nodeStoreDir(stateDir), '.tmp'))).toEqual([]);
  assertStoreComplete(stateDir, 'none');
  expect(readdirSync(nodeStoreDir(stateDir)).filter((n) => !n.startsWith('.')).length).toBe(closureAll().length);
});

it('a 128 MiB NAR streams through: peak RSS stays far below the NAR size', async () => {
  // a signed single-path cache made here, with the fixture's secret key
  const { createHash, randomBytes } = await import('node:crypto');
  const { closeSync, mkdirSync, openSync, writeFileSync, writeSync } = await import('node:fs');
  const { fingerprint, nix32Encode, parseNarInfo, signFingerprint } = await import('../../../src/nix/index.js');
  const { str, strs } = await import('../../support/nix-nar.js');
  const { secretKey } = await import('../../support/nixcache.js');
  const size = 128 << 20;
  const dir = join(tmp, 'bigcache');
  mkdirSync(join(dir, 'nar'), { recursive: true });
  const h = createHash('sha256');
  const fd = openSync(join(dir, 'nar/big.nar'), 'w');
  const put = (b: Buffer) => {
    h.update(b);
    writeSync(fd, b);
  };
  const lenWord = Buffer.alloc(8);
  lenWord.writeBigUInt64LE(BigInt(size));
  put(Buffer.concat([str('nix-archive-1'), strs('(', 'type', 'regular', 'contents'), lenWord]));
  const block = randomBytes(1 << 20);
  for (let i = 0; i < size >> 20; i++) put(block);
  put(strs(')'));
  closeSync(fd);
  const narSize = 8 + 16 + (8 + 8) * 4 + 8 + size + 8 + 8;
  const sp = `/nix/store/${nix32Encode(randomBytes(20))}-big-1.0`;
  const body = `StorePath: ${sp}\nURL: nar/big.nar\nCompression: none\nNarHash: sha256:${nix32Encode(h.digest())}\nNarSize: ${narSize}\nReferences: \n`;
  const sig = signFingerprint(fingerprint(parseNarInfo(body)), secretKey(fx));
  writeFileSync(join(dir, `${sp.slice(11, 43)}.narinfo`), `${body}Sig: ${sig}\n`);
  writeFileSync(join(dir, 'nix-cache-info'), 'StoreDir: /nix/store\n');
  const big = await serveDirectory(dir);
  try {
    const rssOf = async (paths: string[], substituter: string, stateDir: string) => {
      const arg = { quiet: true, paths, opts: { stateDir, substituters: [substituter], trustedPublicKeys: [fx.publicKey] } };
      const proc = spawn(process.execPath, [child, JSON.stringify(arg)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise((r) => proc.on('close', r));
      const last = JSON.parse(out.trim().split('\n').at(-1)!) as { result: RealiseResult; maxRSS: number };
      expect(last.result.fetched).toEqual(expect.arrayContaining(paths));
      return last.maxRSS * 1024; // KiB
    };
    const stateDir = join(tmp, 'big-state');
    const bigRss = await rssOf([sp], big.url, stateDir);
    expect(statSync(hostPathOf(stateDir, sp)).size).toBe(size);
    const smallRss = await rssOf([fx.extra.textRef], `${server.url}/cache-xz`, join(tmp, 'small-state'));
    console.info(`peak RSS realising a ${size >> 20} MiB NAR: ${(bigRss / 1048576).toFixed(1)} MiB; the text path and its 2 MiB reference: ${(smallRss / 1048576).toFixed(1)} MiB`);
    // the NAR passes through in chunks: what it adds is far less than its size
    expect(bigRss - smallRss).toBeLessThan(size / 2);
  } finally {
    await big.close();
  }
});
