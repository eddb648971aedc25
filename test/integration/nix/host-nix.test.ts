// 'nix' mode: the host's own nix-store substitutes (here into a chroot store, so the machine's
// /nix is left alone), with our substituters and keys.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FloxError } from '../../../src/errors.js';
import { realiseWithHostNix } from '../../../src/nix/index.js';
import { type CacheServer, type NixFixture, ensureNixFixture, serveDirectory } from '../../support/nixcache.js';

let fx: NixFixture;
let server: CacheServer;
const tmp = mkdtempSync(join(tmpdir(), 'flox-nix-host-'));
beforeAll(async () => {
  fx = await ensureNixFixture();
  server = await serveDirectory(fx.dir);
});
afterAll(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

it('realises a closure with nix-store --realise and reports what it fetched', async () => {
  const store = join(tmp, 'store-ok');
  const opts = { store, substituters: [`${server.url}/cache-xz`], trustedPublicKeys: [fx.publicKey] };
  const r = await realiseWithHostNix([fx.packages.greet!.out!], opts);
  expect(r.closure).toEqual(fx.closures.greet);
  expect(r.fetched).toEqual(fx.closures.greet);
  const again = await realiseWithHostNix([fx.packages.greet!.out!], opts);
  expect(again.fetched).toEqual([]);
  expect(again.present).toEqual(fx.closures.greet);
});

it('maps a wrong key to nix-signature', async () => {
  const { publicKey } = generateKeyPairSync('ed25519');
  const wrong = `${fx.publicKey.split(':')[0]}:${Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64')}`;
  const e = await realiseWithHostNix([fx.packages.hello!.out!], { store: join(tmp, 'store-bad'), substituters: [`${server.url}/cache-xz`], trustedPublicKeys: [wrong] }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(FloxError);
  expect((e as FloxError).kind).toBe('nix-signature');
  expect((e as FloxError).message).toContain(fx.packages.hello!.out!);
});
