// Every format function against what real Nix produced for the fixture: narinfo files written
// by `nix copy`, hashes from nix-store/nix-hash, NARs from nix-store --dump.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  contentAddressedPath,
  fingerprint,
  formatNix32,
  nix32Encode,
  parseContentAddress,
  parseNarInfo,
  parsePublicKey,
  parseStorePath,
  signFingerprint,
  unpackNar,
  validSigners,
} from '../../../src/nix/index.js';
import { type NixFixture, allFixturePaths, ensureNixFixture, secretKey } from '../../support/nixcache.js';
import { chunked, dumpPath } from '../../support/nix-nar.js';

let fx: NixFixture;
const tmp = mkdtempSync(join(tmpdir(), 'flox-nix-formats-'));
beforeAll(async () => {
  fx = await ensureNixFixture();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const memo = new Map<string, Buffer>();
const nixStore = (...args: string[]) => {
  const k = args.join(' ');
  if (!memo.has(k)) memo.set(k, execFileSync('nix-store', ['--store', fx.localStore, ...args], { env: { ...process.env, NIX_REMOTE: 'local' }, maxBuffer: 64 << 20 }));
  return memo.get(k)!;
};

it('nix32 equals nix-hash --to-base32 on random digests', () => {
  const digests = Array.from({ length: 8 }, () => randomBytes(32));
  const theirs = execFileSync('nix-hash', ['--type', 'sha256', '--to-base32', ...digests.map((d) => d.toString('hex'))], { encoding: 'utf8' }).trim().split('\n');
  expect(digests.map((d) => nix32Encode(d))).toEqual(theirs);
});

describe.each(['xz', 'zstd', 'bzip2', 'br', 'none', 'gzip'])('narinfo files in the %s cache', (c) => {
  it('parse, match nix-store --query, and carry a valid signature', () => {
    const dir = fx.caches[c]!;
    const files = readdirSync(dir).filter((f) => f.endsWith('.narinfo'));
    expect(files).toHaveLength(allFixturePaths(fx).length);
    const key = parsePublicKey(fx.publicKey);
    for (const f of files) {
      const ni = parseNarInfo(readFileSync(join(dir, f), 'utf8'));
      expect(ni.compression).toBe(c);
      expect(parseStorePath(ni.storePath).hash).toBe(f.slice(0, 32));
      expect(formatNix32(ni.narHash)).toBe(nixStore('--query', '--hash', ni.storePath).toString().trim());
      expect(ni.narSize).toBe(Number(nixStore('--query', '--size', ni.storePath).toString().trim()));
      expect(ni.references.map((r) => `/nix/store/${r}`).sort()).toEqual(nixStore('--query', '--references', ni.storePath).toString().trim().split('\n').filter(Boolean).sort());
      expect(validSigners(ni, [key])).toEqual([fx.publicKey.split(':')[0]]);
      // our signer reproduces Nix's signature byte for byte
      expect(signFingerprint(fingerprint(ni), secretKey(fx))).toBe(ni.sigs[0]);
      if (c === 'none') expect(ni.fileHash!.digest.equals(ni.narHash.digest)).toBe(true);
    }
  });
});

it('CA fields re-derive the store paths Nix computed', () => {
  for (const p of [fx.extra.bootstrap, fx.extra.textRef]) {
    const ni = parseNarInfo(readFileSync(join(fx.caches.xz!, `${parseStorePath(p).hash}.narinfo`), 'utf8'));
    expect(ni.ca).toBeDefined();
    const refs = ni.references.map((r) => `/nix/store/${r}`);
    expect(contentAddressedPath(parseContentAddress(ni.ca!)!, parseStorePath(p).name, refs, p)).toBe(p);
  }
});

it('our NAR reader unpacks nix-store --dump output to the same tree (nix-hash agrees)', async () => {
  for (const p of allFixturePaths(fx)) {
    const dump = nixStore('--dump', `${fx.localStore}${p}`); // the chroot store's real location
    const dest = join(tmp, parseStorePath(p).basename);
    await unpackNar(chunked(dump, 65536), dest, { narSize: dump.length });
    expect(dumpPath(dest).equals(dump), p).toBe(true);
    const nixHash = execFileSync('nix-hash', ['--type', 'sha256', '--base32', dest], { encoding: 'utf8' }).trim();
    expect(`sha256:${nixHash}`).toBe(nixStore('--query', '--hash', p).toString().trim());
  }
});
