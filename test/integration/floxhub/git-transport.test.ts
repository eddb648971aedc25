// How the token and the floxmeta clone travel: git gets the token only for the hub's own URL and
// follows no redirect with it, a token never goes over plain http to a hub off the node, and a
// clone larger than floxhub.max-clone-bytes is stopped. Against the real git http-backend hub.
import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FloxError } from '../../../src/errors.js';
import { fetchBranch } from '../../../src/floxhub/git-fetch.js';
import { HubError, listRefs } from '../../../src/floxhub/smart-http.js';
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
