// Realising closures over HTTP from the real-Nix fixture cache, in every compression.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { hostPathOf, nix32Encode, nodeStoreDir, readPathMeta, realiseClosure, type RealiseEvent } from '../../../src/nix/index.js';
import { dumpPath } from '../../support/nix-nar.js';
import { type CacheServer, type NixFixture, allFixturePaths, ensureNixFixture, narGets, serveDirectory } from '../../support/nixcache.js';

let fx: NixFixture;
let server: CacheServer;
const tmp = mkdtempSync(join(tmpdir(), 'flox-nix-realise-'));

beforeAll(async () => {
  fx = await ensureNixFixture();
  server = await serveDirectory(fx.dir);
});
afterAll(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** NAR hash of a tree on disk, computed by real Nix. */
function nixHash(path: string): string {
  return `sha256:${execFileSync('nix-hash', ['--type', 'sha256', '--base32', path], { encoding: 'utf8' }).trim()}`;
}
function narinfoField(cache: string, storePath: string, field: string): string {
  const text = readFileSync(join(cache, `${storePath.slice(11, 43)}.narinfo`), 'utf8');
  return new RegExp(`^${field}: (.*)$`, 'm').exec(text)![1]!;
}

// 'js': the built-in JS/wasm decoders only; 'native': xz/zstd/bzip2 from PATH for every file
const modes: [string, string, number][] = [
  ...['xz', 'zstd', 'bzip2', 'br', 'gzip', 'none'].map((c): [string, string, number] => [c, 'js', Infinity]),
  ...['xz', 'zstd', 'bzip2'].map((c): [string, string, number] => [c, 'native', 0]),
];
describe.each(modes)('closure from the %s cache (%s decoders)', (compression, mode, nativeDecompressMinBytes) => {
  it('realises every role and the CA paths, byte-identical to what Nix built', async () => {
    const stateDir = join(tmp, `${compression}-${mode}`);
    const roots = [...Object.values(fx.packages).flatMap((o) => Object.values(o)), fx.extra.textRef];
    const events: RealiseEvent[] = [];
    const before = narGets(server);
    const r = await realiseClosure(roots, {
      stateDir,
      substituters: [`${server.url}/cache-${compression}`],
      trustedPublicKeys: [fx.publicKey],
      user: 'owner/env:1',
      nativeDecompressMinBytes,
      onEvent: (e) => events.push(e),
    });
    const expected = allFixturePaths(fx);
    expect(r.closure).toEqual(expected);
    expect(r.fetched).toEqual(expected);
    expect(r.present).toEqual([]);
    expect(narGets(server) - before).toBe(expected.length);
    const cache = fx.caches[compression]!;
    expect(r.bytesDownloaded).toBe(expected.reduce((s, p) => s + Number(narinfoField(cache, p, 'FileSize')), 0));
    expect(r.narBytes).toBe(expected.reduce((s, p) => s + Number(narinfoField(cache, p, 'NarSize')), 0));
    for (const p of expected) {
      // real Nix hashes the trees once; elsewhere our serializer (proven equal to nix-store --dump)
      const got = compression === 'xz' && mode === 'js' ? nixHash(hostPathOf(stateDir, p)) : `sha256:${nix32Encode(createHash('sha256').update(dumpPath(hostPathOf(stateDir, p))).digest())}`;
      expect(got, p).toBe(narinfoField(cache, p, 'NarHash'));
      const meta = readPathMeta(stateDir, p)!;
      expect(meta.narHash).toBe(narinfoField(cache, p, 'NarHash'));
      expect(meta.users).toEqual(['owner/env:1']);
    }
    // the store holds exactly the closure (and the hidden tmp dir, now empty)
    expect(readdirSync(nodeStoreDir(stateDir)).filter((n) => !n.startsWith('.')).sort()).toEqual(expected.map((p) => p.slice(11)).sort());
    expect(readdirSync(join(nodeStoreDir(stateDir), '.tmp'))).toEqual([]);
    // events: closure first, then a start and a done per path, progress adds up
    const closureEv = events.find((e) => e.type === 'closure');
    expect(closureEv).toMatchObject({ paths: expected, missing: expected });
    expect(events.filter((e) => e.type === 'path-done')).toHaveLength(expected.length);
    const lastProgress = events.filter((e) => e.type === 'progress').at(-1);
    expect(lastProgress).toMatchObject({ totalBytes: r.bytesDownloaded });

    // symlinks are symlinks; modes and mtimes as Nix makes them
    const bb = hostPathOf(stateDir, fx.packages.busybox!.out!);
    expect(readlinkSync(join(bb, 'bin/sh'))).toBe('busybox');
    expect(lstatSync(join(bb, 'bin/busybox')).mode & 0o777).toBe(0o555);
    expect(lstatSync(join(bb, 'bin')).mode & 0o777).toBe(0o555);
    expect(lstatSync(join(bb, 'bin/busybox')).mtimeMs).toBe(1000);
    const greet = hostPathOf(stateDir, fx.packages.greet!.out!);
    expect(readlinkSync(join(greet, 'libexec/greet/hello'))).toBe(`${fx.packages.hello!.out}/bin/hello`);

    // second run: nothing fetched, nothing asked of the network
    const reqs = server.requests.length;
    const again = await realiseClosure(roots, { stateDir, substituters: [`${server.url}/cache-${compression}`], trustedPublicKeys: [fx.publicKey] });
    expect(again.fetched).toEqual([]);
    expect(again.present).toEqual(expected);
    expect(server.requests.length).toBe(reqs);
  });
});

it('realised programs run (busybox from the node store, chrooted as /nix/store)', async () => {
  const stateDir = join(tmp, 'run');
  await realiseClosure([fx.packages.greet!.out!], { stateDir, substituters: [`${server.url}/cache-xz`], trustedPublicKeys: [fx.publicKey] });
  // the scripts' #! lines point into /nix/store: run them in a chroot whose /nix/store is the node store
  const root = join(tmp, 'chroot');
  const script = 'mkdir -p "$0/nix/store" && mount --bind "$1" "$0/nix/store" && exec chroot "$0" "$2"';
  const out = execFileSync('unshare', ['--mount', '--', 'sh', '-c', script, root, nodeStoreDir(stateDir), `${fx.packages.greet!.out}/bin/greet`], { encoding: 'utf8' });
  expect(out).toBe('Hello, world!\ngreetings from greet-1.0\n');
});
