// Fetches the tip of one floxmeta branch with the git CLI (only when the node has not seen that
// commit yet) and extracts the files a generation needs. A fresh temporary bare repository per
// fetch keeps concurrent container starts from ever sharing git's lock files.
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FloxError } from '../errors.js';
import { HubError, authHeader, checkTokenTransport } from './smart-http.js';

export interface FetchedTree {
  commit: string;
  /** path in the tree -> content, for metadata.json and every <N>/env/manifest.{toml,lock} */
  files: Map<string, string>;
}

const WANTED = /^(metadata\.json|[1-9][0-9]*\/env\/manifest\.(toml|lock))$/;

function gitEnv(repoUrl: string, token: string | undefined, home: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    LC_ALL: 'C',
  };
  // a node's own CA bundle for git, if it sets one (see docs/install.md, private CAs)
  for (const k of ['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH'] as const) {
    const v = process.env[k];
    if (v) env[k] = v;
  }
  // No redirects: git reads its http config once, for the URL it was given, and after following
  // a redirect of the ref advertisement sends the fetch, header and all, to the new host.
  const config: Array<[string, string]> = [['http.followRedirects', 'false']];
  // The token travels in the environment (readable only by root), never in argv or the URL, and
  // only for the hub's repository URL (git's http.<url>.* matching).
  const auth = authHeader(token).authorization;
  if (auth) config.push([`http.${repoUrl.replace(/\/+$/, '')}.extraHeader`, `Authorization: ${auth}`]);
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return env;
}

/** floxhub.max-clone-bytes: a floxmeta repository is a few files per generation */
export const DEFAULT_MAX_CLONE_BYTES = 256 << 20;
const WATCH_MS = 50;

function tooBig(repoUrl: string, what: string, max: number): FloxError {
  return new FloxError('floxhub-malformed', `the floxmeta repository ${repoUrl} is larger than floxhub.max-clone-bytes (${max} bytes): ${what}; raise the limit in the runtime config if the environment really is that big`);
}

/** Bytes under `dir` (the clone: a pack growing as it arrives, its index, a few small files). */
async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch {
    return 0; // not created yet
  }
  for (const e of entries) {
    if (!e.isFile()) continue;
    try {
      total += (await stat(join(e.parentPath ?? e.path, e.name))).size;
    } catch {
      // renamed (tmp_pack -> pack-…) or removed between the listing and the stat
    }
  }
  return total;
}

export async function fetchBranch(opts: { repoUrl: string; branch: string; token?: string; timeoutMs: number; tmpDir: string; maxCloneBytes?: number }): Promise<FetchedTree> {
  const max = opts.maxCloneBytes ?? DEFAULT_MAX_CLONE_BYTES;
  checkTokenTransport(opts.repoUrl, opts.token);
  // loaded only when a new commit is fetched: the warm path of every container start never needs it
  const { execa } = await import('execa');
  const dir = await mkdtemp(join(opts.tmpDir, 'fetch-'));
  const env = gitEnv(opts.repoUrl, opts.token, dir);
  const git = (args: string[], input?: string) =>
    execa('git', args, { env, extendEnv: false, timeout: opts.timeoutMs, input, stripFinalNewline: false, encoding: 'utf8', reject: false });
  try {
    // git has no limit on what a fetch receives: the clone's size on disk is watched while it
    // runs, and git is stopped once it passes the limit (by at most what arrives in WATCH_MS).
    // In a process group of its own, so that stopping it stops git-remote-http and index-pack.
    const running = execa('git', ['clone', '--quiet', '--bare', '--depth', '1', '--single-branch', '--no-tags', '--branch', opts.branch, opts.repoUrl, join(dir, 'repo')], {
      env,
      extendEnv: false,
      timeout: opts.timeoutMs,
      stripFinalNewline: false,
      encoding: 'utf8',
      reject: false,
      detached: true,
    });
    const stop = () => {
      try {
        process.kill(-running.pid!, 'SIGKILL');
      } catch {
        running.kill('SIGKILL'); // already gone, or never started
      }
    };
    let over = false;
    let watching = false;
    const watch = setInterval(() => {
      if (watching) return;
      watching = true;
      void sizeOf(join(dir, 'repo')).then((n) => {
        watching = false;
        if (n > max && !over) {
          over = true;
          stop();
        }
      });
    }, WATCH_MS);
    const clone = await running.finally(() => {
      clearInterval(watch);
      stop(); // whatever git left running (after a timeout) before its directory goes
    });
    if (over || (clone.exitCode === 0 && (await sizeOf(join(dir, 'repo'))) > max)) throw tooBig(opts.repoUrl, 'the clone was stopped once it had received more', max);
    if (clone.exitCode === undefined && !clone.timedOut && /ENOENT/.test(String(clone.message ?? ''))) {
      throw new FloxError('install', 'fetching a new FloxHub generation needs the git CLI on the node, and there is none on PATH; install git (Debian/Ubuntu: apt-get install git)');
    }
    if (clone.exitCode !== 0 || clone.timedOut) throw classify(String(clone.stderr ?? ''), clone.timedOut, opts.timeoutMs);
    const repo = join(dir, 'repo');
    let commit = branchFromRefFiles(repo, opts.branch); // saves a git process on the cold path
    if (!commit) {
      const rev = await git(['-C', repo, 'rev-parse', '--verify', `refs/heads/${opts.branch}^{commit}`]);
      commit = rev.exitCode === 0 ? String(rev.stdout).trim() : undefined;
    }
    if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) throw new HubError('protocol', `fetched branch ${opts.branch} has no commit`);
    const tree = await git(['-C', repo, 'ls-tree', '-r', '-z', '-l', '--full-tree', commit]);
    if (tree.exitCode !== 0) throw new HubError('protocol', `cannot list commit ${commit}: ${String(tree.stderr).trim()}`);
    const blobs: Array<[string, string]> = [];
    // the sizes unpacked: a small pack can inflate to far more (read into memory below)
    let unpacked = 0;
    for (const rec of String(tree.stdout).split('\0')) {
      const m = /^\d+ blob ([0-9a-f]+) +(\d+)\t(.+)$/.exec(rec);
      if (m && WANTED.test(m[3]!)) {
        blobs.push([m[3]!, m[1]!]);
        unpacked += Number(m[2]);
      }
    }
    if (unpacked > max) throw tooBig(opts.repoUrl, `its manifests and metadata unpack to ${unpacked} bytes`, max);
    const files = new Map<string, string>();
    if (blobs.length > 0) {
      const cat = await execa('git', ['-C', repo, 'cat-file', '--batch'], { env, extendEnv: false, timeout: opts.timeoutMs, input: blobs.map(([, sha]) => sha).join('\n') + '\n', encoding: 'buffer', reject: false, maxBuffer: unpacked + (64 << 10) });
      if (cat.exitCode !== 0) throw new HubError('protocol', `cannot read blobs of ${commit}`);
      const out = Buffer.from(cat.stdout as Uint8Array);
      let off = 0;
      for (const [path] of blobs) {
        const nl = out.indexOf(10, off);
        const header = out.subarray(off, nl).toString('latin1').split(' ');
        const size = Number(header[2]);
        if (header[1] !== 'blob' || !Number.isFinite(size)) throw new HubError('protocol', `unexpected git cat-file output for ${path}`);
        files.set(path, out.subarray(nl + 1, nl + 1 + size).toString('utf8'));
        off = nl + 1 + size + 1;
      }
    }
    return { commit, files };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The branch's commit as a fresh bare clone records it (loose ref or packed-refs). */
function branchFromRefFiles(repo: string, branch: string): string | undefined {
  const ref = `refs/heads/${branch}`;
  try {
    return readFileSync(join(repo, ref), 'utf8').trim();
  } catch {
    // not loose: look in packed-refs
  }
  try {
    for (const line of readFileSync(join(repo, 'packed-refs'), 'utf8').split('\n')) {
      const [sha, name] = line.trim().split(' ');
      if (name === ref && sha) return sha;
    }
  } catch {
    // neither: let git answer
  }
  return undefined;
}

/** Maps git's stderr to the failure kinds the caller reports; keeps only the first line. */
export function classify(stderr: string, timedOut: boolean | undefined, timeoutMs: number): HubError {
  if (timedOut) return new HubError('unreachable', `git fetch took longer than ${timeoutMs} ms`);
  // "remote:" lines and the text of a "remote error:" or "protocol error:" are the server's
  // words: they are neither shown to the pod's owner nor taken for git's own
  const own = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^remote:/i.test(l))
    .map((l) => l.replace(/((?:remote|protocol) error):.*$/i, "$1 (the server's words are not shown)"));
  const text = own.join('\n');
  const first = own[0] ?? 'git fetch failed';
  const redirect = /returned error: (30[1278])\b/.exec(text);
  if (redirect) return new HubError('unreachable', `the hub answered with a redirect (HTTP ${redirect[1]}), which is not followed (it could carry the token to another host); set floxhub.git-url to where it points`);
  if (/Authentication failed|could not read Username|could not read Password|\b40[13]\b/i.test(text)) return new HubError('auth', first);
  if (/Remote branch .* not found|couldn't find remote ref/i.test(text)) return new HubError('not-found', first);
  if (/repository .* not found|\b404\b/i.test(text)) return new HubError('not-found', first);
  return new HubError('unreachable', first);
}
