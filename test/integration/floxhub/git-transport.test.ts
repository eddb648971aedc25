// How the token and the floxmeta clone travel: git gets the token only for the hub's own URL and
// follows no redirect with it, a token never goes over plain http to a hub off the node, and a
// clone larger than floxhub.max-clone-bytes is stopped. Against the real git http-backend hub.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FloxError } from '../../../src/errors.js';
import { fetchBranch } from '../../../src/floxhub/git-fetch.js';
import { HubError, listRefs } from '../../../src/floxhub/smart-http.js';
import { startTestProxy } from '../../support/connect-proxy.js';
import { startTestHub, type TestHub } from '../../support/hub.js';

let hub: TestHub;
let work: string;
const servers: Server[] = [];
beforeAll(async () => {
  hub = await startTestHub();
  work = mkdtempSync(join(tmpdir(), 'floxhub-transport-'));
});
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});
afterAll(async () => {
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});

const portOf = (s: Server) => (s.address() as { port: number }).port;

/** A server on `host` that records each request's Authorization header and answers with `answer`. */
async function recorder(host: string, answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; seen: Array<{ line: string; auth?: string }> }> {
  const seen: Array<{ line: string; auth?: string }> = [];
  const server = createServer((req, res) => {
    seen.push({ line: `${req.method} ${req.url}`, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
    answer(req, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, seen };
}

/** Passes every request on to the test hub, as a second host serving the same repositories would. */
function toHub(req: IncomingMessage, res: ServerResponse): void {
  const hubUrl = new URL(hub.url);
  const up = request({ host: hubUrl.hostname, port: hubUrl.port, method: req.method, path: req.url, headers: { ...req.headers, host: hubUrl.host } }, (r) => {
    res.writeHead(r.statusCode!, r.headers);
    r.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
}

const repoPath = (owner: string) => `${new URL(hub.gitUrl).pathname}/${owner}/floxmeta`;

describe('the token and redirects', () => {
  it('git does not carry the token to another host that the hub redirects to', async () => {
    // 127.0.0.2 stands for another host: it serves the same repositories, and records
    const other = await recorder('127.0.0.2', toHub);
    const redirecting = await recorder('127.0.0.1', (req, res) => res.writeHead(302, { location: `http://127.0.0.2:${portOf(other.server)}${req.url}` }).end());
    // a public repository: the other host serves it without a token, so git goes on to fetch
    const repoUrl = `http://127.0.0.1:${portOf(redirecting.server)}${repoPath('public-owner')}`;
    const e = await fetchBranch({ repoUrl, branch: 'multi', token: hub.token, timeoutMs: 10_000, tmpDir: work }).catch((x: unknown) => x);
    // the hub that was asked got the token; the host it pointed to never did
    expect(redirecting.seen[0]?.auth).toBe(`Basic ${Buffer.from(`oauth:${hub.token}`).toString('base64')}`);
    expect(other.seen.filter((s) => s.auth)).toEqual([]);
    expect(e).toBeInstanceOf(HubError);
    expect((e as Error).message).toMatch(/the hub answered with a redirect \(HTTP 302\), which is not followed/);
  });

  it('git sends the token to the hub URL itself, and fetches with it', async () => {
    const direct = await recorder('127.0.0.1', toHub);
    const repoUrl = `http://127.0.0.1:${portOf(direct.server)}${repoPath('private-owner')}`;
    const t = await fetchBranch({ repoUrl, branch: 'secret', token: hub.token, timeoutMs: 10_000, tmpDir: work });
    expect(t.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(t.files.has('metadata.json')).toBe(true);
    expect(direct.seen.length).toBeGreaterThan(1);
    expect(direct.seen.every((s) => s.auth === `Basic ${Buffer.from(`oauth:${hub.token}`).toString('base64')}`)).toBe(true);
  });
});

describe('the head check and redirects', () => {
  it('does not follow a redirect to the cloud metadata address', async () => {
    // had the request gone out, the proxy from the environment would have taken it
    const proxy = await startTestProxy('no.such.name');
    const saved = process.env.HTTP_PROXY;
    process.env.HTTP_PROXY = proxy.url;
    try {
      const redirecting = await recorder('127.0.0.1', (_req, res) => res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end());
      const e = await listRefs(`http://127.0.0.1:${portOf(redirecting.server)}${repoPath('public-owner')}`, { timeoutMs: 5000 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(HubError);
      expect((e as Error).message).toBe('refused redirect to a link-local or cloud metadata address');
      expect(proxy.seen).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.HTTP_PROXY;
      else process.env.HTTP_PROXY = saved;
      proxy.close();
    }
  });
});

describe('a token over plain http', () => {
  // 0.0.0.0 is no loopback name, yet a connection to it reaches this machine's loopback
  // server: what the old code sent there is observable without leaving the machine
  it('is refused to a hub off the node, before anything connects (head check and clone)', async () => {
    const target = await recorder('127.0.0.1', toHub);
    const repoUrl = `http://0.0.0.0:${portOf(target.server)}${repoPath('private-owner')}`;
    for (const attempt of [() => listRefs(repoUrl, { token: hub.token, timeoutMs: 5000 }), () => fetchBranch({ repoUrl, branch: 'secret', token: hub.token, timeoutMs: 10_000, tmpDir: work })]) {
      const e = await attempt().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(FloxError);
      expect((e as FloxError).kind).toBe('config');
      expect((e as Error).message).toMatch(/refusing to send the FloxHub token over http to 0\.0\.0\.0:\d+: set floxhub\.git-url to an https:\/\/ URL/);
    }
    expect(target.seen).toEqual([]);
  });

  it('is allowed to a hub on loopback, and anonymous requests go anywhere', async () => {
    const refs = await listRefs(`${hub.gitUrl}/private-owner/floxmeta`, { token: hub.token, timeoutMs: 5000 });
    expect(refs.has('refs/heads/secret')).toBe(true);
    const target = await recorder('127.0.0.1', toHub);
    const anon = await listRefs(`http://0.0.0.0:${portOf(target.server)}${repoPath('public-owner')}`, { timeoutMs: 5000 });
    expect(anon.size).toBeGreaterThan(0);
  });
});

/** A floxmeta repository for `owner` on the hub whose branch `big` holds `files` (path -> content). */
function pushRepo(owner: string, files: Record<string, Buffer>): void {
  const repo = join(hub.outDir, 'git', owner, 'floxmeta');
  mkdirSync(repo, { recursive: true });
  const git = (args: string[], input?: string) => execFileSync('git', ['-C', repo, ...args], { input, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim();
  git(['init', '--quiet', '--bare']);
  const src = mkdtempSync(join(work, 'blobs-'));
  const tree = new Map<string, string>();
  for (const [path, content] of Object.entries(files)) {
    const f = join(src, path.replaceAll('/', '_'));
    writeFileSync(f, content);
    tree.set(path, git(['hash-object', '-w', f]));
  }
  // one level of directories is all the tests need: "1/env/manifest.toml" -> 1/ env/
  const mk = (entries: string) => git(['mktree'], entries);
  const top: string[] = [];
  const nested = new Map<string, Map<string, string>>();
  for (const [path, sha] of tree) {
    const parts = path.split('/');
    if (parts.length === 1) top.push(`100644 blob ${sha}\t${path}\n`);
    else {
      const [gen, env, name] = parts as [string, string, string];
      if (!nested.has(gen)) nested.set(gen, new Map());
      nested.get(gen)!.set(`${env}/${name}`, sha);
    }
  }
  for (const [gen, inner] of nested) {
    const envs = new Map<string, string[]>();
    for (const [p, sha] of inner) {
      const [env, name] = p.split('/') as [string, string];
      envs.set(env, [...(envs.get(env) ?? []), `100644 blob ${sha}\t${name}\n`]);
    }
    const envTrees = [...envs].map(([env, lines]) => `040000 tree ${mk(lines.join(''))}\t${env}\n`).join('');
    top.push(`040000 tree ${mk(envTrees)}\t${gen}\n`);
  }
  const commit = git(['commit-tree', mk(top.join('')), '-m', 'big']);
  git(['update-ref', 'refs/heads/big', commit]);
  rmSync(src, { recursive: true, force: true });
}

describe('floxhub.max-clone-bytes', () => {
  const leftovers = (d: string) => readdirSync(d).filter((f) => f.startsWith('fetch-'));

  it('stops a clone that receives more than the limit, and leaves nothing behind', async () => {
    // random bytes do not compress: the pack is as big as the file, and takes long enough to
    // arrive that git is stopped while it runs
    pushRepo('big-owner', { 'metadata.json': Buffer.from('{}'), 'padding.bin': randomBytes(24 << 20) });
    const tmpDir = mkdtempSync(join(work, 'limit-'));
    const repoUrl = `${hub.gitUrl}/big-owner/floxmeta`;
    const e = await fetchBranch({ repoUrl, branch: 'big', timeoutMs: 20_000, tmpDir, maxCloneBytes: 1 << 20 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FloxError);
    expect((e as FloxError).kind).toBe('floxhub-malformed');
    expect((e as Error).message).toBe(
      `the floxmeta repository ${repoUrl} is larger than floxhub.max-clone-bytes (1048576 bytes): the clone was stopped once it had received more; raise the limit in the runtime config if the environment really is that big`,
    );
    expect(leftovers(tmpDir)).toEqual([]);
    // the same repository within a limit that fits it
    const ok = await fetchBranch({ repoUrl, branch: 'big', timeoutMs: 20_000, tmpDir, maxCloneBytes: 64 << 20 });
    expect(ok.files.get('metadata.json')).toBe('{}');
  });

  it('refuses a small clone whose manifests unpack to more than the limit', async () => {
    // 64 MiB of one byte packs into a few hundred KiB, and would be read into memory whole
    pushRepo('bomb-owner', { 'metadata.json': Buffer.from('{}'), '1/env/manifest.toml': Buffer.alloc(64 << 20, 0x61) });
    const tmpDir = mkdtempSync(join(work, 'limit-'));
    const e = await fetchBranch({ repoUrl: `${hub.gitUrl}/bomb-owner/floxmeta`, branch: 'big', timeoutMs: 20_000, tmpDir, maxCloneBytes: 1 << 20 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FloxError);
    expect((e as Error).message).toMatch(/larger than floxhub\.max-clone-bytes \(1048576 bytes\): its manifests and metadata unpack to 67108866 bytes;/);
    expect(leftovers(tmpDir)).toEqual([]);
  });
});
