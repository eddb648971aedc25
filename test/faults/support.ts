// Shared by the fault and hostile suites: bin/flox-runtime `create` on a prepared bundle with a
// recording fake runc first on PATH, a config pointing at loopback only, and checks of the state
// a failed or killed create leaves behind (no partial store path, no half-rendered environment).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { installFakeRunc, readRecord, type FakeRuncRecord } from '../support/fake-runc.js';
import { FRONTEND, REPO } from '../support/paths.js';

export const CONTAINER_ID = 'fa17c0de';

export interface Work {
  dir: string;
  fakeBin: string;
}

export function makeWork(prefix: string): Work {
  const dir = mkdtempSync(join('/tmp', `${prefix}-`));
  const fakeBin = join(dir, 'bin');
  installFakeRunc(fakeBin);
  return { dir, fakeBin };
}

export interface ConfigOptions {
  stateDir: string;
  gitUrl: string;
  substituters: string[];
  publicKey: string;
  logFile: string;
  floxhubTimeoutMs?: number;
  nixTimeoutMs?: number;
  delegate?: string[];
  shellStorePath?: string;
  /** more lines of the [nix] table */
  nixExtra?: string;
  extra?: string;
}

export function writeConfig(path: string, o: ConfigOptions): string {
  const q = (s: string) => JSON.stringify(s);
  writeFileSync(
    path,
    `[runtime]\ndelegate = [${(o.delegate ?? ['runc']).map(q).join(', ')}]\nstate-dir = ${q(o.stateDir)}\n` +
      (o.shellStorePath ? `shell-store-path = ${q(o.shellStorePath)}\n` : '') +
      `[floxhub]\nurl = ${q(o.gitUrl.replace(/\/git$/, ''))}\ngit-url = ${q(o.gitUrl)}\ntimeout-ms = ${o.floxhubTimeoutMs ?? 5000}\n` +
      `[nix]\nsubstituters = [${o.substituters.map(q).join(', ')}]\ntrusted-public-keys = [${q(o.publicKey)}]\ntimeout-ms = ${o.nixTimeoutMs ?? 5000}\n${o.nixExtra ? `${o.nixExtra}\n` : ''}` +
      `[log]\nfile = ${q(o.logFile)}\nlevel = "info"\n${o.extra ?? ''}`,
  );
  return path;
}

/** A bundle like containerd 1.6 writes for a pod container (one-line config.json). */
export function makeBundle(parent: string, annotations: Record<string, string>, opts: { mounts?: Array<Record<string, unknown>>; args?: string[] } = {}): string {
  const dir = mkdtempSync(join(parent, 'bundle-'));
  const spec = JSON.parse(readFileSync(join(REPO, 'test/fixtures/specs/containerd-1.6-build.json'), 'utf8')) as Record<string, any>;
  const keep = Object.fromEntries(Object.entries(spec.annotations as Record<string, string>).filter(([k]) => !k.startsWith('flox.dev/')));
  spec.annotations = { ...keep, ...annotations };
  if (opts.mounts) spec.mounts = [...(spec.mounts as unknown[]), ...opts.mounts];
  if (opts.args) spec.process.args = opts.args;
  mkdirSync(join(dir, 'rootfs'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

export const sha256 = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

export interface CreateRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** msg of the last error line of --log */
  logMsg: string | undefined;
  record: FakeRuncRecord | undefined;
  ms: number;
}

export interface CreateOptions {
  config: string;
  env?: Record<string, string>;
  /** SIGKILL the runtime after this many ms (a random point of the create) */
  killAfterMs?: number;
  /** hard bound: SIGKILL and report after this (default 60 s) */
  limitMs?: number;
  pathPrefix?: string;
}

/** Runs `bin/flox-runtime create` as containerd's shim would, with the fake runc on PATH. */
export function runCreate(work: Work, bundle: string, o: CreateOptions): Promise<CreateRun> {
  const rec = join(bundle, `runc-record-${Math.random().toString(36).slice(2)}`);
  const logFile = join(bundle, 'log.json');
  const argv = ['--root', join(work.dir, 'runc-root'), '--log', logFile, '--log-format', 'json', 'create', '--bundle', bundle, '--pid-file', join(bundle, 'init.pid'), CONTAINER_ID];
  const t0 = performance.now();
  const logOffset = existsSync(logFile) ? statSync(logFile).size : 0; // only this run's lines
  return new Promise((resolve) => {
    const child = spawn(FRONTEND, argv, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: `${o.pathPrefix ?? work.fakeBin}:/usr/sbin:/usr/bin:/sbin:/bin`, FLOX_RUNTIME_CONFIG: o.config, FAKE_RUNC_RECORD: rec, ...o.env },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
    const timers = [setTimeout(() => child.kill('SIGKILL'), o.limitMs ?? 60_000)];
    if (o.killAfterMs !== undefined) timers.push(setTimeout(() => child.kill('SIGKILL'), o.killAfterMs));
    child.on('close', (status, signal) => {
      for (const t of timers) clearTimeout(t);
      resolve({ status, signal, stderr, logMsg: lastErrorMsg(logFile, logOffset), record: readRecord(rec), ms: performance.now() - t0 });
    });
  });
}

export function lastErrorMsg(logFile: string, offset = 0): string | undefined {
  if (!existsSync(logFile)) return undefined;
  const errors = readFileSync(logFile).subarray(offset).toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: string; msg: string })
    .filter((l) => l.level === 'error');
  return errors.at(-1)?.msg;
}

const list = (d: string): string[] => {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
};

/**
 * What a failed or interrupted create may not leave behind: a store path without its metadata
 * record (partial), or a rendered environment directory without render.json (half-rendered).
 * Temporary directories (store/.tmp, envs/.tmp-*) are allowed: they are never mounted and the
 * next realisation of the same path removes them under its lock.
 */
export function stateProblems(stateDir: string): string[] {
  const problems: string[] = [];
  const meta = new Set(list(join(stateDir, 'nix/meta')).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)));
  for (const p of list(join(stateDir, 'store'))) {
    if (p === '.tmp') continue;
    if (!meta.has(p)) problems.push(`store path without metadata record: ${p}`);
  }
  for (const e of list(join(stateDir, 'envs'))) {
    if (e.startsWith('.')) continue;
    if (!existsSync(join(stateDir, 'envs', e, 'render.json'))) problems.push(`half-rendered environment: ${e}`);
  }
  return problems;
}

export function storePaths(stateDir: string): string[] {
  return list(join(stateDir, 'store')).filter((n) => n !== '.tmp');
}

/** The activated spec that create handed to runc. */
export function activatedSpec(bundle: string): Record<string, any> {
  return JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as Record<string, any>;
}

export type ProxyMode = '' | 'hang' | 'reset-pack' | '503';

export interface FaultProxy {
  url: string;
  mode: ProxyMode;
  requests: string[];
  close(): Promise<void>;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of the test hub: passes through, hangs (accepts and never
 * answers), answers 503, or resets the connection in the middle of a git-upload-pack response.
 */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const up = new URL(upstream);
  const sockets = new Set<Socket>();
  const state: FaultProxy = { url: '', mode: '', requests: [], close: async () => {} };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.requests.push(`${req.method} ${req.url}`);
    if (state.mode === 'hang') return; // never answers; the client's timeout must end it
    if (state.mode === '503') return void res.writeHead(503).end('down\n');
    const isPack = (req.url ?? '').includes('git-upload-pack') && req.method === 'POST';
    const preq = httpRequest({ host: up.hostname, port: up.port, path: req.url, method: req.method, headers: req.headers }, (pres) => {
      if (state.mode === 'reset-pack' && isPack) {
        res.writeHead(pres.statusCode ?? 502, pres.headers);
        let sent = 0;
        pres.on('data', (d: Buffer) => {
          if (sent > 40) return;
          res.write(d.subarray(0, 48));
          sent += 48;
          setTimeout(() => req.socket.resetAndDestroy(), 20);
        });
        return;
      }
      res.writeHead(pres.statusCode ?? 502, pres.headers);
      pres.pipe(res);
    });
    preq.on('error', () => res.destroy());
    req.pipe(preq);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return state;
}
