#!/usr/bin/env node
// A small local FloxHub for tests and the demo: git smart HTTP for <owner>/floxmeta repos through
// `git http-backend` (the CGI real git hosts use), HTTP Basic `oauth:<token>` for private owners,
// and the static files of the Nix fixture's binary caches. Plain Node ESM, no dependencies.
//
//   node scripts/hub/server.mjs --root DIR [--port 0] [--host 127.0.0.1] [--tokens FILE]
//        [--nix-fixture OUTDIR] [--cache NAME=DIR]... [--down 503|close]
//
// --down / _admin/down?mode=: 503 (every request), close (connections dropped), fetch (only pack
// requests fail, ref advertisements work).
//
// Prints one JSON line on stdout once listening: {"url":"http://127.0.0.1:PORT","gitUrl":".../git",
// "caches":{"xz":".../cache-xz"},"pid":N}. See scripts/fixtures/README.md.
import { spawn } from 'node:child_process';
import { createReadStream, readFileSync, statSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve, normalize, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

function parseArgs(argv) {
  const o = { root: '', port: 0, host: '127.0.0.1', tokens: '', caches: {}, down: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--root') o.root = resolve(v());
    else if (a === '--port') o.port = Number(v());
    else if (a === '--host') o.host = v();
    else if (a === '--tokens') o.tokens = resolve(v());
    else if (a === '--down') o.down = v();
    else if (a === '--cache') {
      const [name, dir] = v().split('=');
      o.caches[name] = resolve(dir);
    } else if (a === '--nix-fixture') {
      const paths = JSON.parse(readFileSync(join(v(), 'paths.json'), 'utf8'));
      for (const [name, dir] of Object.entries(paths.caches ?? {})) o.caches[name] = resolve(dir);
    } else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: server.mjs --root DIR [--port N] [--tokens FILE] [--nix-fixture OUTDIR] [--cache NAME=DIR] [--down 503|close]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!o.root) throw new Error('--root DIR is required');
  return o;
}

// tokens file: {"private": ["private-owner"], "tokens": {"<token>": ["private-owner", ...]}}
// A token listed there may read the owners it names; every owner not in "private" is public.
function loadTokens(file) {
  if (!file) return { private: new Set(), tokens: new Map() };
  const j = JSON.parse(readFileSync(file, 'utf8'));
  return {
    private: new Set(j.private ?? []),
    tokens: new Map(Object.entries(j.tokens ?? {}).map(([t, owners]) => [t, new Set(owners)])),
  };
}

const OWNER = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export async function startHub(opts) {
  const state = { down: opts.down || '', requests: 0, gitRequests: 0, log: [] };
  const auth = () => loadTokens(opts.tokens); // re-read per request so tests can rotate tokens

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    // admin endpoints: never affected by "down"
    if (url.pathname.startsWith('/_admin/')) return admin(url, req, res);
    state.requests++;
    // 'fetch': ref advertisements work, pack requests fail (a hub failing half-way)
    const packRequest = req.method === 'POST' && url.pathname.endsWith('/git-upload-pack');
    const mode = state.down === 'fetch' ? (packRequest ? '503' : '') : state.down;
    if (mode === 'close') return req.socket.destroy();
    if (mode) return send(res, 503, 'hub is down (simulated)\n');
    if (url.pathname.startsWith('/git/')) return git(url, req, res);
    const m = /^\/(cache-[^/]+)\/(.+)$/.exec(url.pathname);
    if (m && opts.caches[m[1].slice(6)]) return staticFile(opts.caches[m[1].slice(6)], m[2], res);
    send(res, 404, 'not found\n');
  });

  function admin(url, req, res) {
    const op = url.pathname.slice('/_admin/'.length);
    if (op === 'down') state.down = url.searchParams.get('mode') || '503';
    else if (op === 'up') state.down = '';
    else if (op === 'reset') (state.requests = 0), (state.gitRequests = 0);
    else if (op !== 'stats') return send(res, 404, 'unknown admin op\n');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ down: state.down, requests: state.requests, gitRequests: state.gitRequests }));
  }

  function git(url, req, res) {
    state.gitRequests++;
    // /git/<owner>/floxmeta[.git]/<service path>
    const m = /^\/git\/([^/]+)\/(floxmeta)(?:\.git)?(\/.*)$/.exec(url.pathname);
    if (!m || !OWNER.test(m[1])) return send(res, 404, 'not found\n');
    const owner = m[1];
    const service = url.searchParams.get('service') ?? '';
    const isPush = service === 'git-receive-pack' || m[3].endsWith('/git-receive-pack');
    if (isPush) return send(res, 403, 'push is not served by the test hub\n');
    const { private: priv, tokens } = auth();
    const token = basicToken(req.headers.authorization);
    if (token !== undefined && !tokens.has(token)) return challenge(res); // a bad token is always refused
    if (priv.has(owner) && !(token !== undefined && tokens.get(token).has(owner))) return challenge(res);
    const repo = join(opts.root, owner, 'floxmeta');
    if (!existsSync(repo)) return send(res, 404, 'repository not found\n');
    cgi(req, res, `/${owner}/floxmeta${m[3]}`, url.search.slice(1), token !== undefined ? 'oauth' : '');
  }

  function cgi(req, res, pathInfo, query, user) {
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: opts.root,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: opts.root,
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: pathInfo,
      QUERY_STRING: query,
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_USER: user,
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
      GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
    };
    if (req.headers['content-length']) env.CONTENT_LENGTH = String(req.headers['content-length']);
    const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    req.pipe(child.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (chunk) => {
      if (headersDone) return res.write(chunk);
      head = Buffer.concat([head, chunk]);
      let idx = head.indexOf('\r\n\r\n');
      let sepLen = 4;
      if (idx < 0) {
        idx = head.indexOf('\n\n');
        sepLen = 2;
      }
      if (idx < 0) return;
      headersDone = true;
      let status = 200;
      const headers = {};
      for (const line of head.subarray(0, idx).toString('latin1').split(/\r?\n/)) {
        const c = line.indexOf(':');
        if (c < 0) continue;
        const k = line.slice(0, c).trim();
        const v = line.slice(c + 1).trim();
        if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(idx + sepLen));
    });
    child.on('close', (code) => {
      if (!headersDone) send(res, 500, `http-backend failed (${code}): ${stderr}\n`);
      else res.end();
    });
    child.on('error', (e) => send(res, 500, `cannot run git http-backend: ${e.message}\n`));
  }

  function staticFile(dir, rel, res) {
    const p = normalize(join(dir, rel));
    if (!p.startsWith(dir + sep)) return send(res, 404, 'not found\n');
    let st;
    try {
      st = statSync(p);
    } catch {
      return send(res, 404, 'not found\n');
    }
    if (!st.isFile()) return send(res, 404, 'not found\n');
    res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
    createReadStream(p).pipe(res);
  }

  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', ok);
  });
  const addr = server.address();
  const url = `http://${opts.host ?? '127.0.0.1'}:${addr.port}`;
  return {
    url,
    gitUrl: `${url}/git`,
    caches: Object.fromEntries(Object.keys(opts.caches ?? {}).map((c) => [c, `${url}/cache-${c}`])),
    state,
    setDown(mode) {
      state.down = mode || '';
    },
    close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); }),
  };
}

function basicToken(header) {
  if (!header || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const c = decoded.indexOf(':');
  if (c < 0) return undefined;
  const pass = decoded.slice(c + 1);
  return pass === '' ? undefined : pass; // Flox sends an empty password when it has no token
}

function challenge(res) {
  res.writeHead(401, { 'www-authenticate': 'Basic realm="floxhub"', 'content-type': 'text/plain' });
  res.end('authentication required\n');
}

function send(res, status, body) {
  if (res.headersSent) return res.end();
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(body);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const opts = parseArgs(process.argv.slice(2));
    const hub = await startHub(opts);
    process.stdout.write(`${JSON.stringify({ url: hub.url, gitUrl: hub.gitUrl, caches: hub.caches, pid: process.pid })}\n`);
    const stop = () => hub.close().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  } catch (e) {
    process.stderr.write(`hub: ${e.message}\n`);
    process.exit(2);
  }
}
