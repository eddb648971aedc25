// What goes wrong between a cache and the node: tampering, wrong keys, missing paths, server
// errors, truncated and stalled downloads. Each must fail with the right kind, name the path
// and the substituter, and leave no partial path in the store.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FloxError } from '../../../src/errors.js';
import { hostPathOf, nodeStoreDir, realiseClosure, type RealiseEvent, type RealiseOptions } from '../../../src/nix/index.js';
import { fingerprint, parseNarInfo } from '../../../src/nix/narinfo.js';
import { signFingerprint } from '../../../src/nix/signature.js';
import { type CacheServer, type NixFixture, copyCache, ensureNixFixture, narGets, secretKey, serveDirectory } from '../../support/nixcache.js';
import { startTestProxy } from '../../support/connect-proxy.js';

let fx: NixFixture;
let server: CacheServer;
const tmp = mkdtempSync(join(tmpdir(), 'flox-nix-fail-'));
let hello: string;
let busybox: string;

beforeAll(async () => {
  fx = await ensureNixFixture();
  hello = fx.packages.hello!.out!;
  busybox = fx.packages.busybox!.out!;
  // a writable copy of every cache we tamper with, served next to the pristine ones
  for (const c of ['none', 'xz']) copyCache(fx.caches[c]!, join(tmp, `tampered-${c}`));
  copyCache(fx.caches.xz!, join(tmp, 'unsigned'));
  copyCache(fx.caches.xz!, join(tmp, 'nobusybox'));
  copyCache(fx.caches.xz!, join(tmp, 'preferred'));
  copyCache(fx.caches.none!, join(tmp, 'pristine-none'));
  copyCache(fx.caches.xz!, join(tmp, 'pristine-xz'));
  server = await serveDirectory(tmp);
});
afterAll(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  server.hook = undefined;
});

let runs = 0;
function opts(cache: string, extra: Partial<RealiseOptions> = {}): RealiseOptions & { events: RealiseEvent[] } {
  const events: RealiseEvent[] = [];
  return {
    stateDir: join(tmp, `state-${runs++}`),
    substituters: [`${server.url}/${cache}`],
    trustedPublicKeys: [fx.publicKey],
    retries: 2,
    retryBaseDelayMs: 5,
    timeoutMs: 2000,
    onEvent: (e) => events.push(e),
    events,
    ...extra,
  };
}
async function failure(p: Promise<unknown>): Promise<FloxError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FloxError);
  return e as FloxError;
}
const narinfoPath = (dir: string, sp: string) => join(tmp, dir, `${sp.slice(11, 43)}.narinfo`);
const narFileOf = (dir: string, sp: string) => join(tmp, dir, /^URL: (.*)$/m.exec(readFileSync(narinfoPath(dir, sp), 'utf8'))![1]!);
const noPartials = (stateDir: string) => {
  expect(readdirSync(join(nodeStoreDir(stateDir), '.tmp'))).toEqual([]);
};

it('refuses a tampered NAR (uncompressed): nix-hash, and hello never appears', async () => {
  const f = narFileOf('tampered-none', hello);
  const b = readFileSync(f);
  b[b.length - 100]! ^= 1;
  writeFileSync(f, b);
  const o = opts('tampered-none');
  const e = await failure(realiseClosure([hello], o));
  expect(e.kind).toBe('nix-hash');
  expect(e.message).toContain(hello);
  expect(e.message).toContain(`${server.url}/tampered-none`);
  expect(existsSync(hostPathOf(o.stateDir, hello))).toBe(false);
  noPartials(o.stateDir);
});

it.each([
  ['native xz', 0],
  ['wasm xz', Infinity],
])('refuses a tampered NAR (%s): nix-hash', async (_, nativeDecompressMinBytes) => {
  const f = narFileOf('tampered-xz', busybox);
  const b = readFileSync(f);
  if (!existsSync(`${f}.orig`)) {
    writeFileSync(`${f}.orig`, b);
    b[Math.floor(b.length / 2)]! ^= 0x40;
    writeFileSync(f, b);
  }
  const o = opts('tampered-xz', { nativeDecompressMinBytes });
  const e = await failure(realiseClosure([busybox], o));
  expect(e.kind).toBe('nix-hash');
  expect(e.message).toContain(busybox);
  expect(existsSync(hostPathOf(o.stateDir, busybox))).toBe(false);
  noPartials(o.stateDir);
});

it('refuses paths signed by a key we do not trust, before downloading anything', async () => {
  const { publicKey } = generateKeyPairSync('ed25519');
  const name = fx.publicKey.split(':')[0];
  const wrong = `${name}:${Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64')}`;
  const before = narGets(server);
  const o = opts('pristine-xz', { trustedPublicKeys: [wrong] });
  const e = await failure(realiseClosure([hello], o));
  expect(e.kind).toBe('nix-signature');
  expect(e.message).toContain(hello);
  expect(e.message).toContain('trusted-public-keys');
  expect(narGets(server)).toBe(before);
});

it('accepts unsigned content-addressed paths whose CA re-derives the path, refuses unsigned input-addressed ones', async () => {
  for (const p of [fx.extra.textRef, fx.extra.bootstrap, hello]) {
    const f = narinfoPath('unsigned', p);
    writeFileSync(f, readFileSync(f, 'utf8').replace(/^Sig: .*\n/gm, ''));
  }
  const ok = opts('unsigned');
  const r = await realiseClosure([fx.extra.textRef], ok);
  expect(r.fetched).toEqual([fx.extra.textRef, fx.extra.bootstrap].sort());
  const e = await failure(realiseClosure([hello], opts('unsigned')));
  expect(e.kind).toBe('nix-signature');
});

it('a CA field that does not re-derive the path earns no trust', async () => {
  const f = narinfoPath('unsigned', fx.extra.bootstrap);
  writeFileSync(f, readFileSync(f, 'utf8').replace(/^CA: fixed:r:sha256:(.)/m, (_, c: string) => `CA: fixed:r:sha256:${c === '0' ? '1' : '0'}`));
  const e = await failure(realiseClosure([fx.extra.bootstrap], opts('unsigned')));
  expect(e.kind).toBe('nix-signature');
});

it('reports a path no substituter has as nix-missing, naming it and the substituters', async () => {
  const ghost = '/nix/store/00000000000000000000000000000000-ghost-1.0';
  const o = opts('pristine-xz');
  const e = await failure(realiseClosure([ghost], o));
  expect(e.kind).toBe('nix-missing');
  expect(e.message).toContain(ghost);
  expect(e.message).toContain(`${server.url}/pristine-xz`);
});

it('reports a missing reference (busybox) when realising hello', async () => {
  rmSync(narinfoPath('nobusybox', busybox));
  const o = opts('nobusybox');
  const e = await failure(realiseClosure([hello], o));
  expect(e.kind).toBe('nix-missing');
  expect(e.message).toContain(busybox);
  expect(existsSync(hostPathOf(o.stateDir, hello))).toBe(false);
});

it('falls back to the next substituter and follows nix-cache-info Priority', async () => {
  // "preferred" announces Priority 10, so it wins over the list order
  const info = join(tmp, 'preferred/nix-cache-info');
  writeFileSync(info, readFileSync(info, 'utf8').replace('Priority: 40', 'Priority: 10'));
  const o = opts('nobusybox', { substituters: [`${server.url}/nobusybox`, `${server.url}/preferred`] });
  await realiseClosure([hello], o);
  const done = o.events.filter((e) => e.type === 'path-done');
  expect(done.map((e) => e.substituter)).toEqual([`${server.url}/preferred`, `${server.url}/preferred`]);
  // with equal priorities list order decides, and a path the first lacks comes from the second
  const o2 = opts('nobusybox', { substituters: [`${server.url}/nobusybox`, `${server.url}/pristine-xz`] });
  await realiseClosure([hello], o2);
  const by = Object.fromEntries(o2.events.flatMap((e) => (e.type === 'path-done' ? [[e.path, e.substituter]] : [])));
  expect(by).toEqual({ [hello]: `${server.url}/nobusybox`, [busybox]: `${server.url}/pristine-xz` });
});

describe('a NAR that fails from one substituter comes from the next', () => {
  it('after the retries of a server error, as Nix does (with a fallback event)', async () => {
    server.hook = (req, res, path) => {
      if (!path.startsWith('/pristine-xz/nar/')) return false;
      res.writeHead(500).end();
      return true;
    };
    const o = opts('pristine-xz', { substituters: [`${server.url}/pristine-xz`, `${server.url}/pristine-none`] });
    const r = await realiseClosure([hello], o);
    expect(r.fetched).toEqual([busybox, hello].sort());
    const done = Object.fromEntries(o.events.flatMap((e) => (e.type === 'path-done' ? [[e.path, e.substituter]] : [])));
    expect(done).toEqual({ [hello]: `${server.url}/pristine-none`, [busybox]: `${server.url}/pristine-none` });
    const fallbacks = o.events.filter((e) => e.type === 'fallback');
    expect(fallbacks).toHaveLength(2);
    expect(fallbacks[0]).toMatchObject({ from: `${server.url}/pristine-xz`, to: `${server.url}/pristine-none`, error: expect.stringMatching(/HTTP 500/) });
    noPartials(o.stateDir);
  });

  it('a tampered NAR (hash mismatch) too', async () => {
    copyCache(fx.caches.none!, join(tmp, 'fallback-tampered'));
    const f = narFileOf('fallback-tampered', hello);
    const b = readFileSync(f);
    b[b.length - 100]! ^= 1;
    writeFileSync(f, b);
    const o = opts('x', { substituters: [`${server.url}/fallback-tampered`, `${server.url}/pristine-xz`] });
    const r = await realiseClosure([hello], o);
    expect(r.fetched).toContain(hello);
    expect(o.events.find((e) => e.type === 'fallback')).toMatchObject({ path: hello, error: expect.stringMatching(/corrupt/) });
  });

  it('not to a substituter whose narinfo names other references, and the first error stands', async () => {
    copyCache(fx.caches.xz!, join(tmp, 'fallback-otherrefs'));
    // hello re-signed with busybox dropped from its references: trusted, but another closure
    const f = narinfoPath('fallback-otherrefs', hello);
    const info = parseNarInfo(readFileSync(f, 'utf8'));
    const refs = info.references.filter((r) => !busybox.endsWith(r));
    const sig = signFingerprint(fingerprint({ ...info, references: refs }), secretKey(fx));
    writeFileSync(f, readFileSync(f, 'utf8').replace(/^References: .*$/m, `References: ${refs.join(' ')}`).replace(/^Sig: .*$/m, `Sig: ${sig}`));
    const helloNar = `/pristine-xz/${/^URL: (.*)$/m.exec(readFileSync(narinfoPath('pristine-xz', hello), 'utf8'))![1]}`;
    server.hook = (req, res, path) => {
      if (path !== helloNar) return false;
      res.writeHead(500).end();
      return true;
    };
    const o = opts('x', { substituters: [`${server.url}/pristine-xz`, `${server.url}/fallback-otherrefs`] });
    const e = await failure(realiseClosure([hello], o));
    expect(e.kind).toBe('nix-fetch');
    expect(e.message).toContain(`${server.url}/pristine-xz`);
    expect(e.message).toContain(hello);
    expect(o.events.filter((e) => e.type === 'fallback')).toEqual([]);
    noPartials(o.stateDir);
  });
});

describe('server trouble', () => {
  it('retries 5xx with backoff and succeeds', async () => {
    let fails = 2;
    server.hook = (req, res, path) => {
      if (path.includes('/nar/') && fails > 0) {
        fails--;
        res.writeHead(503).end();
        return true;
      }
      return false;
    };
    const o = opts('pristine-xz');
    const r = await realiseClosure([hello], o);
    expect(r.fetched).toEqual([busybox, hello].sort());
    expect(o.events.filter((e) => e.type === 'retry')).toHaveLength(2);
  });

  it('gives up after the retries with nix-fetch, naming path and substituter', async () => {
    server.hook = (req, res, path) => {
      if (!path.includes('/nar/')) return false;
      res.writeHead(500).end();
      return true;
    };
    const o = opts('pristine-xz');
    const e = await failure(realiseClosure([busybox], o));
    expect(e.kind).toBe('nix-fetch');
    expect(e.message).toContain(busybox);
    expect(e.message).toContain(`${server.url}/pristine-xz`);
    expect(o.events.filter((e) => e.type === 'retry')).toHaveLength(2);
    noPartials(o.stateDir);
  });

  it('retries a NAR download cut off in the middle (connection reset, and a short body)', async () => {
    let cuts = 2;
    server.hook = (req, res, path) => {
      if (!path.includes('/nar/') || cuts <= 0) return false;
      const body = readFileSync(join(tmp, path));
      if (cuts-- === 2) {
        // announced length, then the connection drops halfway
        res.writeHead(200, { 'content-length': body.length });
        res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      } else {
        // chunked encoding that simply ends early: only FileSize can tell
        res.writeHead(200);
        res.end(body.subarray(0, body.length >> 1));
      }
      return true;
    };
    const o = opts('pristine-none');
    const r = await realiseClosure([busybox], o);
    expect(r.fetched).toEqual([busybox]);
    expect(r.bytesDownloaded).toBe(readFileSync(narFileOf('pristine-none', busybox)).length);
    expect(o.events.filter((e) => e.type === 'retry')).toHaveLength(2);
  });

  it('a download that is always truncated fails with nix-fetch and leaves nothing', async () => {
    server.hook = (req, res, path) => {
      if (!path.includes('/nar/')) return false;
      const body = readFileSync(join(tmp, path));
      res.writeHead(200);
      res.end(body.subarray(0, body.length - 3));
      return true;
    };
    const o = opts('pristine-xz');
    const e = await failure(realiseClosure([busybox], o));
    expect(e.kind).toBe('nix-fetch');
    expect(e.message).toMatch(/ends after/);
    expect(existsSync(hostPathOf(o.stateDir, busybox))).toBe(false);
    noPartials(o.stateDir);
  });

  it('a stalled download times out and is retried', async () => {
    let stalls = 1;
    server.hook = (req, res, path) => {
      if (!path.includes('/nar/') || stalls <= 0) return false;
      stalls--;
      res.writeHead(200, { 'content-length': 10_000_000 });
      res.write(Buffer.alloc(10)); // then nothing
      return true;
    };
    const o = opts('pristine-xz', { timeoutMs: 1000, retries: 4 });
    const r = await realiseClosure([busybox], o);
    expect(r.fetched).toEqual([busybox]);
    expect(o.events.some((e) => e.type === 'retry' && /no data for 1000 ms/.test(e.error))).toBe(true);
  });

  it('an unreachable substituter is reported as nix-fetch', async () => {
    const o = opts('x', { substituters: ['http://127.0.0.1:9/cache'], retries: 0 });
    const e = await failure(realiseClosure([hello], o));
    expect(e.kind).toBe('nix-fetch');
    expect(e.message).toContain('http://127.0.0.1:9/cache');
  });
});

it('an abort mid-download rejects, leaves no partial path, and releases the lock', async () => {
  let started!: () => void;
  const inFlight = new Promise<void>((r) => (started = r));
  server.hook = (req, res, path) => {
    if (!path.includes('/nar/')) return false;
    const body = readFileSync(join(tmp, path));
    res.writeHead(200, { 'content-length': body.length });
    res.write(body.subarray(0, body.length >> 1));
    started(); // and then nothing more
    return true;
  };
  const ctl = new AbortController();
  const o = opts('pristine-none', { signal: ctl.signal, timeoutMs: 60_000 });
  const p = realiseClosure([busybox], o);
  await inFlight;
  ctl.abort(new Error('pod deleted'));
  await expect(p).rejects.toThrow('pod deleted');
  expect(existsSync(hostPathOf(o.stateDir, busybox))).toBe(false);
  noPartials(o.stateDir);
  server.hook = undefined;
  const r = await realiseClosure([busybox], { ...o, signal: undefined });
  expect(r.fetched).toEqual([busybox]);
});

it('logs events through the runtime logger', async () => {
  const { createLogger } = await import('../../../src/log/logger.js');
  const { logRealiseEvents } = await import('../../../src/nix/index.js');
  const file = join(tmp, 'realise.log');
  const o = opts('pristine-xz');
  await realiseClosure([hello], { ...o, onEvent: logRealiseEvents(createLogger({ file, level: 'info' })) });
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; path?: string });
  expect(lines[0]).toMatchObject({ msg: 'nix: closure', paths: 2, missing: 2 });
  expect(lines.filter((l) => l.msg === 'nix: fetched').map((l) => l.path).sort()).toEqual([busybox, hello].sort());
});

it('follows redirects for NARs (caches that hand downloads to a CDN)', async () => {
  server.hook = (req, res, path) => {
    const m = /^\/redirecting\/(nar\/.*)$/.exec(path);
    if (!m) return false;
    res.writeHead(302, { location: `/pristine-xz/${m[1]}` }).end();
    return true;
  };
  // "redirecting" has the narinfos; its NARs live elsewhere
  copyCache(fx.caches.xz!, join(tmp, 'redirecting'));
  rmSync(join(tmp, 'redirecting/nar'), { recursive: true });
  const r = await realiseClosure([hello], opts('redirecting'));
  expect(r.fetched).toEqual([busybox, hello].sort());
  expect(server.requests.some((q) => q.path.startsWith('/pristine-xz/nar/'))).toBe(true);
});

describe('redirects the cache does not get to choose', () => {
  const redirectNars = (to: (nar: string) => string) => {
    server.hook = (_req, res, path) => {
      const m = /^\/redirecting\/(nar\/.*)$/.exec(path);
      if (!m) return false;
      res.writeHead(302, { location: to(m[1]!) }).end();
      return true;
    };
    copyCache(fx.caches.xz!, join(tmp, 'redirecting'));
    rmSync(join(tmp, 'redirecting/nar'), { recursive: true, force: true });
  };

  it('a NAR redirected to the cloud metadata address fails before anything connects there', async () => {
    // a proxy from the environment takes any connection to a non-loopback host: had the
    // request gone out, it would show here (and nothing leaves this machine either way)
    const proxy = await startTestProxy('no.such.name');
    const saved = process.env.HTTP_PROXY;
    process.env.HTTP_PROXY = proxy.url;
    try {
      redirectNars(() => 'http://169.254.169.254/latest/meta-data/iam/security-credentials/node');
      const e = await realiseClosure([hello], opts('redirecting')).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(FloxError);
      expect((e as Error).message).toMatch(/refused to follow its redirect to http:\/\/169\.254\.169\.254 \(a link-local or cloud metadata address\)/);
      expect(proxy.seen).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.HTTP_PROXY;
      else process.env.HTTP_PROXY = saved;
      proxy.close();
    }
  });

  it('a NAR redirected to another host over plain http is not fetched from there', async () => {
    // 127.0.0.2 stands for another host on the node's network
    const seen: string[] = [];
    const other = createServer((req, res) => {
      seen.push(String(req.url));
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.2', r));
    try {
      const port = (other.address() as { port: number }).port;
      redirectNars((nar) => `http://127.0.0.2:${port}/${nar}`);
      const e = await realiseClosure([hello], opts('redirecting')).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(FloxError);
      expect((e as Error).message).toMatch(new RegExp(`refused to follow its redirect to http://127\\.0\\.0\\.2:${port} \\(to another host over plain http\\)`));
      expect(seen).toEqual([]);
    } finally {
      other.closeAllConnections();
      other.close();
    }
  });
});

it('realises from a file:// substituter', async () => {
  const o = opts('x', { substituters: [`file://${fx.caches.zstd}`] });
  const r = await realiseClosure([fx.packages.greet!.out!], o);
  expect(r.fetched).toEqual(fx.closures.greet);
  expect(o.events.filter((e) => e.type === 'path-done').every((e) => e.substituter === `file://${fx.caches.zstd}`)).toBe(true);
});
