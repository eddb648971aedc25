// A download that fails while the closure walk is still looking up the next level must be
// reported like any other failure. It once surfaced as an unhandled promise rejection, which
// kills the runtime (Node's default) before it writes its one `flox:` line: containerd then saw
// a crash dump instead of the message.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FloxError } from '../../src/errors.js';
import { realiseClosure } from '../../src/nix/index.js';
import { ensureNixFixture, serveDirectory, type CacheServer, type NixFixture } from '../support/nixcache.js';

let fx: NixFixture;
let cache: CacheServer;
const tmp = mkdtempSync('/tmp/faults-early-');

beforeAll(async () => {
  fx = await ensureNixFixture();
  cache = await serveDirectory(fx.caches.zstd!);
}, 240_000);
afterAll(async () => {
  await cache?.close();
  rmSync(tmp, { recursive: true, force: true });
});

it('a corrupt root NAR while the references are still being looked up: a FloxError, never an unhandled rejection (8 runs)', async () => {
  let narinfos = 0;
  cache.hook = async (req, res, path) => {
    // the roots' narinfos at once, their references' only after the roots' downloads failed
    if (path.endsWith('.narinfo') && ++narinfos > 2) await new Promise((ok) => setTimeout(ok, 300));
    if (!path.startsWith('/nar/')) return false;
    const body = Buffer.from(readFileSync(join(fx.caches.zstd!, path)));
    for (let i = 40; i < body.length; i += 97) body[i] = body[i]! ^ 0x5a;
    res.writeHead(200, { 'content-length': body.length }).end(body);
    return true;
  };
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    for (let i = 0; i < 8; i++) {
      narinfos = 0;
      const e = await realiseClosure([fx.packages.hello!.out!, fx.packages.pyish!.out!], {
        stateDir: join(tmp, `s${i}`),
        substituters: [cache.url],
        trustedPublicKeys: [fx.publicKey],
        timeoutMs: 3000,
      }).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(FloxError);
      // a big NAR streams (the decoder finds the damage), a small one is checked whole first (its FileHash does)
      expect((e as FloxError).message).toMatch(/is corrupt: (zstd decompression failed|it does not match its hash)/);
      await new Promise((ok) => setTimeout(ok, 20)); // let Node run its unhandled-rejection check
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
    cache.hook = undefined;
  }
  expect(unhandled.map(String)).toEqual([]);
});
