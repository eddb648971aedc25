// The real-Nix fixture (scripts/fixtures/make-nix-cache.sh) and a tiny static HTTP server for
// its binary caches, with hooks so tests can inject server faults. 127.0.0.1 only.
import { execFile } from 'node:child_process';
import { createReadStream, readFileSync, statSync, cpSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, normalize, resolve } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { repoRoot } from '../e2e/support/paths.js';

// works from vitest and from an esbuild bundle under <repo>/.cache (the demo)
export const REPO = repoRoot();
export const FIXTURE_SCRIPT = join(REPO, 'scripts/fixtures/make-nix-cache.sh');
export const DEFAULT_FIXTURE_DIR = process.env.FLOX_NIX_FIXTURE_DIR ?? join(REPO, '.cache/nix-fixture');

const StorePathStr = z.string().regex(/^\/nix\/store\/[0-9a-z]{32}-[A-Za-z0-9+\-._?=]+$/);
export const NixFixtureSchema = z.object({
  publicKey: z.string(),
  secretKeyFile: z.string(),
  storeDir: z.literal('/nix/store'),
  caches: z.record(z.string()),
  packages: z.record(z.record(StorePathStr)),
  closures: z.record(z.array(StorePathStr)),
  extra: z.object({ bootstrap: StorePathStr, textRef: StorePathStr }),
  localStore: z.string(),
});
export type NixFixture = z.infer<typeof NixFixtureSchema> & { dir: string };

/** Builds the fixture once (flock'ed and stamped by the script itself) and reads paths.json. */
export async function ensureNixFixture(dir = DEFAULT_FIXTURE_DIR): Promise<NixFixture> {
  await promisify(execFile)('bash', [FIXTURE_SCRIPT, dir], { maxBuffer: 16 << 20, timeout: 280_000 });
  return { ...NixFixtureSchema.parse(JSON.parse(readFileSync(join(dir, 'paths.json'), 'utf8'))), dir };
}

/** Every store path any role needs, plus the two CA extras. */
export function allFixturePaths(f: NixFixture): string[] {
  return [...new Set([...Object.values(f.closures).flat(), f.extra.bootstrap, f.extra.textRef])].sort();
}

export function secretKey(f: NixFixture): string {
  return readFileSync(f.secretKeyFile, 'utf8').trim();
}

/** A writable copy of one cache (for tampering). */
export function copyCache(src: string, dest: string): string {
  cpSync(src, dest, { recursive: true });
  return dest;
}

export interface ServedRequest {
  method: string;
  path: string;
}

/** Return true when the hook answered the request itself. */
export type Hook = (req: IncomingMessage, res: ServerResponse, path: string) => boolean | Promise<boolean>;

export interface CacheServer {
  /** http://127.0.0.1:PORT (https:// with tls) */
  url: string;
  port: number;
  requests: ServedRequest[];
  /** replaced per test; undefined serves files normally */
  hook: Hook | undefined;
  close(): Promise<void>;
}

/**
 * Serves `root` statically (GET and HEAD, as real Nix needs) on a free 127.0.0.1 port; over
 * https with `tls` (a key and certificate, e.g. from makeTestCa).
 */
export async function serveDirectory(root: string, opts: { tls?: { key: Buffer; cert: Buffer } } = {}): Promise<CacheServer> {
  const state: CacheServer = { url: '', port: 0, requests: [], hook: undefined, close: async () => {} };
  const handler: RequestListener = async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    state.requests.push({ method: req.method ?? '', path });
    try {
      if (state.hook && (await state.hook(req, res, path))) return;
      const file = normalize(join(root, path));
      if (!file.startsWith(`${root}/`)) return void res.writeHead(403).end();
      let size: number;
      try {
        const st = statSync(file);
        if (!st.isFile()) throw new Error('not a file');
        size = st.size;
      } catch {
        return void res.writeHead(404).end();
      }
      res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(file).pipe(res);
    } catch {
      res.destroy();
    }
  };
  const server = opts.tls ? createTlsServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : createServer(handler);
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as AddressInfo).port;
  state.url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${state.port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

/** Count of GET requests for NAR files. */
export function narGets(s: CacheServer): number {
  return s.requests.filter((r) => r.method === 'GET' && r.path.includes('/nar/')).length;
}
