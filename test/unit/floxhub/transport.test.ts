// Pure pieces of the transport: the ref advertisement parser, the auth header, git's errors.
import { describe, expect, it } from 'vitest';
import { classify } from '../../../src/floxhub/git-fetch.js';
import { HubError, authHeader, parseAdvertisement } from '../../../src/floxhub/smart-http.js';
import { pickToken, readTokenFile } from '../../../src/floxhub/token.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const pkt = (s: string) => `${(s.length + 4).toString(16).padStart(4, '0')}${s}`;
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

describe('ref advertisement (protocol v0)', () => {
  it('parses refs, ignoring capabilities and flush packets', () => {
    const body = Buffer.from(`${pkt('# service=git-upload-pack\n')}0000${pkt(`${A} refs/heads/hello\0multi_ack side-band-64k\n`)}${pkt(`${B} refs/heads/multi\n`)}0000`);
    expect([...parseAdvertisement(body)]).toEqual([
      ['refs/heads/hello', A],
      ['refs/heads/multi', B],
    ]);
  });
  it('an empty repository advertises no refs', () => {
    const body = Buffer.from(`${pkt('# service=git-upload-pack\n')}0000${pkt(`${'0'.repeat(40)} capabilities^{}\0agent=git\n`)}0000`);
    expect(parseAdvertisement(body).size).toBe(0);
  });
  it.each([
    ['a dumb server page', '<html>hi</html>', /not a git smart HTTP/],
    ['garbage length', `${pkt('# service=git-upload-pack\n')}zzzz`, /malformed pkt-line/],
    ['truncated', '00ff# service', /truncated/],
    ['protocol v2', `${pkt('# service=git-upload-pack\n')}0000${pkt('version 2\n')}0000`, /protocol v2/],
  ])('rejects %s', (_n, text, re) => {
    expect(() => parseAdvertisement(Buffer.from(text))).toThrow(HubError);
    expect(() => parseAdvertisement(Buffer.from(text))).toThrow(re);
  });
});

describe('auth', () => {
  it('is HTTP Basic oauth:<token>, nothing when anonymous', () => {
    expect(authHeader(undefined)).toEqual({});
    expect(authHeader('')).toEqual({});
    expect(authHeader('tok')).toEqual({ authorization: `Basic ${Buffer.from('oauth:tok').toString('base64')}` });
  });
  it('the pod token wins over the node token; empty files count as none', () => {
    const d = mkdtempSync(join(tmpdir(), 'tok-'));
    writeFileSync(join(d, 'floxhub-token'), 'pod-token\n');
    writeFileSync(join(d, 'node'), 'node-token');
    writeFileSync(join(d, 'empty'), '\n');
    expect(pickToken({ podTokenFile: { dir: d, key: 'floxhub-token' }, configTokenFile: join(d, 'node') })).toEqual({ token: 'pod-token', source: 'pod' });
    expect(pickToken({ podTokenFile: { file: join(d, 'empty') }, configTokenFile: join(d, 'node') })).toEqual({ token: 'node-token', source: 'config' });
    expect(pickToken({ podTokenFile: { file: join(d, 'missing') } })).toEqual({ source: 'none' });
    expect(readTokenFile('')).toBeUndefined();
  });
});

describe('git fetch errors', () => {
  it.each([
    ["fatal: could not read Username for 'http://h': terminal prompts disabled", 'auth'],
    ['fatal: Authentication failed for ...', 'auth'],
    ['warning: Could not find remote branch x to clone.\nfatal: Remote branch x not found in upstream origin', 'not-found'],
    ["fatal: repository 'http://h/git/o/floxmeta/' not found", 'not-found'],
    ['fatal: unable to access ...: Failed to connect to 127.0.0.1 port 9', 'unreachable'],
  ])('%s -> %s', (stderr, reason) => {
    expect(classify(stderr, false, 1000).reason).toBe(reason);
  });
  it("shows none of the server's words, and is not steered by them", () => {
    const secret = 'AKIAFLOXLEAKEDSECRET';
    const e = classify(`remote: ${secret} 401 Authentication failed\nfatal: remote error: ${secret}\n`, false, 1000);
    expect(e).toMatchObject({ reason: 'unreachable', message: "fatal: remote error (the server's words are not shown)" });
    expect(classify(`fatal: protocol error: bad line length character: ${secret.slice(0, 4)}`, false, 1000).message).not.toContain(secret.slice(0, 4));
    // a port is no status
    expect(classify("fatal: unable to access 'http://127.0.0.1:40123/': Failed to connect", false, 1000).reason).toBe('unreachable');
  });
  it('a timeout is unreachable', () => {
    expect(classify('', true, 1234)).toMatchObject({ reason: 'unreachable', message: expect.stringMatching(/1234 ms/) });
  });
});

describe('the pod token file', () => {
  it('is found through the secret volume mount, or a subPath mount of the key', async () => {
    const { podTokenFileFromMounts } = await import('../../../src/floxhub/token.js');
    expect(podTokenFileFromMounts([{ destination: '/proc', source: 'proc' }, { destination: '/var/run/secrets/flox.dev/', source: '/var/lib/kubelet/pods/u/volumes/kubernetes.io~secret/floxhub-token' }])).toEqual({
      dir: '/var/lib/kubelet/pods/u/volumes/kubernetes.io~secret/floxhub-token',
      key: 'floxhub-token',
    });
    expect(podTokenFileFromMounts([{ destination: '/var/run/secrets/flox.dev/floxhub-token', source: '/k/sub/0' }])).toEqual({ file: '/k/sub/0' });
    expect(podTokenFileFromMounts([{ destination: '/var/run/secrets/kubernetes.io/serviceaccount', source: '/k/sa' }])).toBeUndefined();
    expect(podTokenFileFromMounts(undefined)).toBeUndefined();
  });
});

describe('listRefs over HTTP', () => {
  it('follows redirects, keeping the token only on the same host', async () => {
    const { createServer } = await import('node:http');
    const { listRefs } = await import('../../../src/floxhub/smart-http.js');
    const seen: Array<[string, string | undefined]> = [];
    const adv = `${pkt('# service=git-upload-pack\n')}0000${pkt(`${A} refs/heads/e\n`)}0000`;
    const other = createServer((req, res) => {
      seen.push([`other${req.url}`, req.headers.authorization]);
      res.end(adv);
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const otherPort = (other.address() as { port: number }).port;
    const main = createServer((req, res) => {
      seen.push([String(req.url), req.headers.authorization]);
      if (req.url!.startsWith('/old/')) res.writeHead(302, { location: req.url!.replace('/old/', '/new/') }).end();
      else if (req.url!.startsWith('/away/')) res.writeHead(307, { location: `http://127.0.0.1:${otherPort}/x/info/refs?service=git-upload-pack` }).end();
      else res.end(adv);
    });
    await new Promise<void>((r) => main.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(main.address() as { port: number }).port}`;
    try {
      expect((await listRefs(`${base}/old/o/floxmeta`, { token: 't', timeoutMs: 2000 })).get('refs/heads/e')).toBe(A);
      expect(seen.map(([u, a]) => [u.split('?')[0], a !== undefined])).toEqual([['/old/o/floxmeta/info/refs', true], ['/new/o/floxmeta/info/refs', true]]);
      seen.length = 0;
      await listRefs(`${base}/away/o/floxmeta`, { token: 't', timeoutMs: 2000 });
      expect(seen.map(([u, a]) => [u.split('?')[0], a !== undefined])).toEqual([['/away/o/floxmeta/info/refs', true], ['other/x/info/refs', false]]);
    } finally {
      main.close();
      other.close();
    }
  });

  // a hub that misbehaves in the start path of a container: every case ends within the timeout
  // with a HubError, never a hang
  it('a hub that stalls before the head, or in the middle of the body, is unreachable within the timeout', async () => {
    const { createServer } = await import('node:http');
    const { listRefs } = await import('../../../src/floxhub/smart-http.js');
    const server = createServer((req, res) => {
      if (req.url!.startsWith('/silent/')) return; // never answers
      res.writeHead(200, { 'content-length': '1000' });
      res.write(pkt('# service=git-upload-pack\n')); // and then nothing more
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      for (const path of ['silent', 'stalled']) {
        const t = Date.now();
        const e = await listRefs(`${base}/${path}/o/floxmeta`, { timeoutMs: 300 }).catch((x: unknown) => x);
        expect(e, path).toBeInstanceOf(HubError);
        expect((e as HubError).reason).toBe('unreachable');
        expect(Date.now() - t, path).toBeLessThan(3000);
      }
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('refuses an advertisement over 32 MiB, and reports the request as sent before the answer', async () => {
    const { createServer } = await import('node:http');
    const { listRefs } = await import('../../../src/floxhub/smart-http.js');
    const { startHeadCheck } = await import('../../../src/floxhub/head-check.js');
    const adv = `${pkt('# service=git-upload-pack\n')}0000${pkt(`${A} refs/heads/e\n`)}0000`;
    let answer: (() => void) | undefined;
    const server = createServer((req, res) => {
      if (req.url!.startsWith('/huge/')) {
        const block = Buffer.alloc(1 << 20, 0x30);
        let sent = 0;
        const more = () => {
          while (sent < 40 && res.write(block)) sent++;
          if (sent < 40) res.once('drain', more);
          else res.end();
        };
        return more();
      }
      answer = () => res.end(adv);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      await expect(listRefs(`${base}/huge/o/floxmeta`, { timeoutMs: 5000 })).rejects.toThrow('larger than 32 MiB');
      const check = startHeadCheck(base, 'o', { timeoutMs: 5000 });
      await check.sent;
      // the hub has the request and has not answered yet
      await new Promise((r) => setTimeout(r, 50));
      expect(answer).toBeDefined();
      answer!();
      expect((await check.refs).get('refs/heads/e')).toBe(A);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('fetchBranch without git', () => {
  it('says that git is missing on the node', async () => {
    const { fetchBranch } = await import('../../../src/floxhub/git-fetch.js');
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(fetchBranch({ repoUrl: 'http://127.0.0.1:9/git/o/floxmeta', branch: 'b', timeoutMs: 1000, tmpDir: tmpdir() })).rejects.toMatchObject({ kind: 'install', message: expect.stringMatching(/needs the git CLI/) });
    } finally {
      process.env.PATH = path;
    }
  });
});
