// Helpers for the installer's integration tests: a temporary host root, a fake runtime package,
// a tree snapshot for byte-identical checks, a private containerd, and a fake Kubernetes API on
// 127.0.0.1. Everything is torn down by the tests' afterEach/afterAll, also on failure.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, lstatSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `flox-install-${prefix}-`));
}

export function writeFile(path: string, data: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data, { mode });
}

/** A stand-in for the built runtime: bin/flox-runtime, dist/flox-runtime.mjs (+ map). */
export function fakeSource(dir: string): string {
  writeFile(join(dir, 'bin/flox-runtime'), '#!/bin/sh\nexec runc "$@"\n', 0o755);
  writeFile(join(dir, 'dist/flox-runtime.mjs'), '// bundle\n', 0o755);
  writeFile(join(dir, 'dist/flox-runtime.mjs.map'), '{"version":3}\n');
  writeFile(join(dir, 'dist/chunks/oci-AAAA1111.mjs'), '// oci chunk\n');
  writeFile(join(dir, 'dist/chunks/operator-BBBB2222.mjs'), '// operator chunk\n');
  return dir;
}

/** Every file (and symlink, dir) under root with its content: equal snapshots = identical trees. */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const rel = relative(root, p);
      if (st.isDirectory()) {
        out[`${rel}/`] = `dir ${(st.mode & 0o7777).toString(8)}`;
        walk(p);
      } else out[rel] = `${(st.mode & 0o7777).toString(8)} ${readFileSync(p).toString('base64')}`;
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}

/** A containerd config (default: `containerd config default`) with everything containerd owns moved under `lab`. */
export function privateContainerdConfig(lab: string, base?: string): string {
  const def = base ?? execFileSync('containerd', ['config', 'default'], { encoding: 'utf8' });
  const replace = (s: string, from: string | RegExp, to: string) => {
    const out = s.replace(from, to);
    if (out === s) throw new Error(`containerd config default has no ${String(from)}`);
    return out;
  };
  let c = def;
  c = replace(c, /^root = .*$/m, `root = "${lab}/root"`);
  c = replace(c, /^state = .*$/m, `state = "${lab}/state"`);
  c = replace(c, 'address = "/run/containerd/containerd.sock"', `address = "${lab}/containerd.sock"`);
  c = replace(c, /(\[ttrpc\]\n\s+address = )""/, `$1"${lab}/containerd.sock.ttrpc"`);
  // this machine's root lacks CAP_SYS_RESOURCE; see research/cri.md P1
  c = replace(c, 'restrict_oom_score_adj = false', 'restrict_oom_score_adj = true');
  c = replace(c, 'path = "/opt/containerd"', `path = "${lab}/opt"`);
  c = replace(c, /(\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.runc\.options\][^[]*?Root = )""/, `$1"${lab}/runc"`);
  c = replace(c, 'bin_dir = "/opt/cni/bin"', `bin_dir = "${lab}/cni/bin"`);
  c = replace(c, 'conf_dir = "/etc/cni/net.d"', `conf_dir = "${lab}/cni/net.d"`);
  return c;
}

export interface Containerd {
  proc: ChildProcess;
  socket: string;
  log: string;
  stop(): Promise<void>;
}

// Node's spawn passes on every inherited fd that is not close-on-exec (e.g. the calling
// shell's): close all above 2, then `setsid env -i` (no fork: bash is not a group leader, so the
// pid stays containerd's). A constant script; the values travel as argv.
const LAUNCH = 'for f in /proc/$$/fd/*; do n=${f##*/}; case $n in 0|1|2) ;; *) eval "exec $n>&-" 2>/dev/null;; esac; done; exec setsid env -i "$@"';

/** containerd in its own session (setsid) with a clean environment (env -i) and only fds 0-2. */
export async function startContainerd(config: string, socket: string, log: string, env: Record<string, string> = {}): Promise<Containerd> {
  const fd = openSync(log, 'a');
  const extra = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const proc = spawn('/bin/bash', ['-c', LAUNCH, 'flox-install-launch', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', ...extra, 'containerd', '--config', config], {
    stdio: ['ignore', fd, fd],
    env: {},
  });
  closeSync(fd);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(proc.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        try {
          process.kill(proc.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 10_000);
      await exited;
      clearTimeout(t);
    }
  };
  for (let i = 0; i < 100; i++) {
    if (existsSync(socket)) {
      try {
        execFileSync('ctr', ['--address', socket, 'version'], { stdio: 'ignore', timeout: 5_000 });
        return { proc, socket, log, stop };
      } catch {
        /* not yet */
      }
    }
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`containerd did not come up on ${socket}:\n${readFileSync(log, 'utf8').slice(-3000)}`);
}

export interface FakeApi {
  url: string;
  requests: { method: string; path: string; body: unknown }[];
  objects: Map<string, unknown>;
  close(): Promise<void>;
}

/** A Kubernetes API stand-in on 127.0.0.1: GET returns objects by path (404 otherwise), PATCH merges labels. */
export async function fakeKubeApi(objects: Record<string, unknown> = {}): Promise<FakeApi> {
  const store = new Map(Object.entries(objects));
  const requests: FakeApi['requests'] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const body = text ? (JSON.parse(text) as unknown) : undefined;
      const path = req.url ?? '/';
      requests.push({ method: req.method ?? '', path, body });
      const obj = store.get(path) as { metadata?: { labels?: Record<string, string> } } | undefined;
      if (!obj) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `${path} not found` }));
        return;
      }
      if (req.method === 'PATCH') {
        const labels = { ...(obj.metadata?.labels ?? {}) };
        for (const [k, v] of Object.entries((body as { metadata: { labels: Record<string, string | null> } }).metadata.labels)) {
          if (v === null) delete labels[k];
          else labels[k] = v;
        }
        obj.metadata = { ...obj.metadata, labels };
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    requests,
    objects: store,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export function rmrf(p: string): void {
  rmSync(p, { recursive: true, force: true });
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
function lenField(field: number, data: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(data.length), data]);
}

/**
 * A stand-in for a runtime's CRI socket: answers runtime.v1 Status(verbose) with info.config
 * computed by `config()` at each call (e.g. from the config file, as if just restarted).
 */
export async function fakeCriServer(socket: string, config: () => unknown): Promise<{ calls: number; close(): Promise<void> }> {
  const { createServer: createH2 } = await import('node:http2');
  const state = { calls: 0 };
  const server = createH2();
  server.on('stream', (stream, headers) => {
    stream.resume();
    stream.on('end', () => {
      if (headers[':path'] !== '/runtime.v1.RuntimeService/Status') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
        return;
      }
      state.calls++;
      let json: string;
      try {
        json = JSON.stringify(config(), (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
      } catch (e) {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '13', 'grpc-message': encodeURIComponent(String(e)) }, { endStream: true });
        return;
      }
      const entry = Buffer.concat([lenField(1, Buffer.from('config')), lenField(2, Buffer.from(json))]);
      const msg = lenField(2, entry);
      const frame = Buffer.concat([Buffer.from([0]), Buffer.alloc(4), msg]);
      frame.writeUInt32BE(msg.length, 1);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame);
    });
  });
  await new Promise<void>((r) => server.listen(socket, () => r()));
  return {
    get calls() {
      return state.calls;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
