// A private containerd 1.6 for end-to-end tests, ported from /work/shared/lab/crilab/run.sh.
// Each startLab() gets its own directory under /tmp/flox-e2e/<id> holding root, state,
// sockets, runc root, pod logs and the BinaryName scripts; a cgroup root `flox-e2e-<id>`; and
// never touches the machine's containerd (/run/containerd/containerd.sock, /var/lib/containerd).
// Labs are independent, so test files may each start one and run in parallel.
//
// Paths outside the lab dir that containerd 1.6 still uses (cri.md P8): the shim's ttrpc
// socket /run/containerd/s/<sha256> (hard-coded) and, for `ctr run` only, /run/containerd/fifo.
// Teardown removes our shim sockets, and those dirs only when empty and no other lab or
// system containerd is around.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, renameSync, rmdirSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { CriClient, Kubelet } from './cri.js';
import { ensureImages, PAUSE_IMAGE, type ImageTar } from './images.js';
import { CLEAN_PATH, defaultFloxBinary, which } from './paths.js';

/** A handler's BinaryName: an absolute path, or a script the lab writes to <lab>/bin/<handler>. */
export type HandlerBinary = string | { script: string };

export interface LabOptions {
  /** BinaryName of the `flox` handler. Default: <repo>/bin/flox-runtime. */
  floxBinary?: HandlerBinary;
  /** More handlers, name → BinaryName; each gets `pod_annotations` and a Root in the lab. */
  handlers?: Record<string, HandlerBinary>;
  /** Extra environment for containerd, inherited by the shims and BinaryName (e.g. FLOX_RUNTIME_CONFIG). */
  env?: Record<string, string>;
  /** Pod annotation globs copied into config.json by the non-runc handlers. */
  podAnnotations?: string[];
  /** Images to import; default: the three from ensureImages() (pause, busybox, flox/empty). */
  images?: ImageTar[];
  /** Parent of the lab dirs; default $FLOX_E2E_LAB_ROOT or /tmp/flox-e2e. */
  parentDir?: string;
  /** Not reaped by other labs when the starting process is gone (the lab.mjs CLI). */
  persistent?: boolean;
  /** containerd log level (the log is <lab>/containerd.log). */
  logLevel?: 'info' | 'debug';
  startTimeoutMs?: number;
}

/** What a lab leaves on disk in <dir>/lab.json, enough to tear it down from another process. */
export interface LabRecord {
  id: string;
  dir: string;
  socket: string;
  configFile: string;
  cgroupRoot: string;
  pid?: number;
  pidStart?: string;
  owner: number;
  ownerStart?: string;
  persistent: boolean;
  createdAt: string;
}

export interface TeardownReport {
  /** Things that could not be cleaned up (empty when all went well). */
  problems: string[];
}

export interface Lab extends LabRecord {
  pid: number;
  /** `unix://<socket>` for gRPC clients. */
  address: string;
  logFile: string;
  /** Root option of every handler (runc appends /k8s.io). */
  runcRoot: string;
  /** handler name → BinaryName ('' for plain runc). */
  handlers: Record<string, string>;
  images: ImageTar[];
  cri: CriClient;
  kubelet: Kubelet;
  containerdLog(): string;
  /** Stops every pod, containerd and its shims, unmounts and removes the lab dir. Idempotent. */
  stop(): Promise<TeardownReport>;
}

const NAMESPACE = 'k8s.io';
const LAB_FILE = 'lab.json';
const HANDLER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/; // RuntimeClass handler: a DNS label
const REQUIRED_TOOLS = ['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'gcc', 'tar', 'busybox', 'umount', 'setsid'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const toml = (s: string): string => JSON.stringify(s); // JSON strings are valid TOML basic strings

export function labParentDir(): string {
  return process.env.FLOX_E2E_LAB_ROOT ?? '/tmp/flox-e2e';
}

/** Why the e2e suite cannot run here, or undefined when it can. */
export function labUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root (containerd, mounts, cgroups)';
  const missing = REQUIRED_TOOLS.filter((t) => !which(t));
  if (missing.length) return `missing ${missing.join(', ')} (scripts/install-deps.sh installs them)`;
  return undefined;
}

/** Field 22 of /proc/<pid>/stat: start time, to tell a pid from a later reuse of it. */
function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined; // zombie: dead, just not reaped yet (P12)
    return fields[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number | undefined, start: string | undefined): boolean {
  if (!pid) return false;
  const s = procStart(pid);
  return s !== undefined && (start === undefined || s === start);
}

/** kill(2) that ignores a process that is already gone. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: exited meanwhile
  }
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function configToml(dir: string, handlers: Record<string, string>, podAnnotations: string[], logLevel: string): string {
  const runtimes = Object.entries(handlers).map(([name, binary]) => {
    const base = `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${toml(name)}]`;
    const lines = [base, '  runtime_type = "io.containerd.runc.v2"'];
    if (name !== 'runc') lines.push(`  pod_annotations = [${podAnnotations.map(toml).join(', ')}]`);
    lines.push(`  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${toml(name)}.options]`);
    if (binary) lines.push(`    BinaryName = ${toml(binary)}`);
    // default Root would be /run/containerd/runc, outside the lab
    lines.push(`    Root = ${toml(join(dir, 'runc'))}`);
    return lines.join('\n');
  });
  return `# generated by test/e2e/support/containerd.ts; see /work/shared/lab/crilab/config.toml.in
version = 2
root = ${toml(join(dir, 'root'))}
state = ${toml(join(dir, 'state'))}
# these would only log "skip plugin"; the opt plugin would create /opt/containerd
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.internal.v1.opt"]

[grpc]
  address = ${toml(join(dir, 'containerd.sock'))}

[ttrpc]
  address = ${toml(join(dir, 'containerd.sock.ttrpc'))}

[debug]
  address = ${toml(join(dir, 'debug.sock'))}
  level = ${toml(logLevel)}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${toml(PAUSE_IMAGE)}
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  # root may lack CAP_SYS_RESOURCE: the sandbox's oom_score_adj -998 would fail (cri.md P1)
  restrict_oom_score_adj = true
  systemd_cgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    # empty on purpose: only hostNetwork pods (cri.md §2, P3)
    bin_dir = ${toml(join(dir, 'cni', 'bin'))}
    conf_dir = ${toml(join(dir, 'cni', 'net.d'))}
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

${runtimes.join('\n\n')}
`;
}

async function resolveBinary(dir: string, handler: string, b: HandlerBinary): Promise<string> {
  if (typeof b === 'string') {
    if (!b.startsWith('/')) throw new Error(`BinaryName of handler ${handler} must be absolute: ${b}`);
    return b;
  }
  const path = join(dir, 'bin', handler);
  await writeFile(path, b.script);
  await chmod(path, 0o755);
  return path;
}

// Closes every inherited fd above 2 (they would leak into shims, runc and containers, P6),
// then runs `env -i K=V... containerd ...` in a new session. A constant script: values are argv.
const LAUNCH = 'for f in /proc/$$/fd/*; do n=${f##*/}; case $n in 0|1|2) ;; *) eval "exec $n>&-";; esac; done; exec setsid env -i "$@"';

/** Starts a private containerd with the runc, flox and extra handlers, and imports the images. */
export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const why = labUnavailableReason();
  if (why) throw new Error(`cannot start the e2e lab: ${why}`);
  const parent = opts.parentDir ?? labParentDir();
  await mkdir(parent, { recursive: true });
  await reapStaleLabs(parent);
  const images = opts.images ?? (await ensureImages());

  const id = randomBytes(4).toString('hex');
  const dir = join(parent, id);
  // sun_path is 108 bytes; the longest socket is <dir>/containerd.sock.ttrpc
  if (Buffer.byteLength(join(dir, 'containerd.sock.ttrpc')) >= 108) {
    throw new Error(`lab parent dir ${parent} is too long for unix socket paths; use a shorter FLOX_E2E_LAB_ROOT`);
  }
  for (const sub of ['bin', 'root', 'state', 'runc', 'pods', 'cni/bin', 'cni/net.d']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  const record: LabRecord = {
    id,
    dir,
    socket: join(dir, 'containerd.sock'),
    configFile: join(dir, 'config.toml'),
    cgroupRoot: `flox-e2e-${id}`,
    owner: process.pid,
    ownerStart: procStart(process.pid),
    persistent: opts.persistent ?? false,
    createdAt: new Date().toISOString(),
  };
  await writeFile(join(dir, LAB_FILE), JSON.stringify(record, null, 2));

  let cri: CriClient | undefined;
  try {
    const handlers: Record<string, string> = { runc: '' };
    handlers.flox = await resolveBinary(dir, 'flox', opts.floxBinary ?? defaultFloxBinary());
    for (const [name, b] of Object.entries(opts.handlers ?? {})) {
      if (!HANDLER_NAME.test(name) || name === 'runc' || name === 'flox') throw new Error(`bad extra handler name ${JSON.stringify(name)}`);
      handlers[name] = await resolveBinary(dir, name, b);
    }
    await writeFile(record.configFile, configToml(dir, handlers, opts.podAnnotations ?? ['flox.dev/*'], opts.logLevel ?? 'info'));

    const logFile = join(dir, 'containerd.log');
    const env = { PATH: CLEAN_PATH, HOME: '/root', ...opts.env };
    const envArgs = Object.entries(env).map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad env name ${JSON.stringify(k)}`);
      return `${k}=${v}`;
    });
    const containerd = which('containerd', env.PATH) ?? 'containerd';
    const fd = openSync(logFile, 'a');
    let exited: string | undefined;
    const child = spawn('/bin/bash', ['-c', LAUNCH, 'flox-e2e-launch', ...envArgs, containerd, '--config', record.configFile], {
      stdio: ['ignore', fd, fd],
      env: {},
    });
    closeSync(fd);
    child.on('exit', (code, sig) => {
      exited = `containerd exited (${sig ?? code})`;
    });
    child.unref();
    if (!child.pid) throw new Error('could not spawn containerd');
    record.pid = child.pid;
    record.pidStart = procStart(child.pid);
    await writeFile(join(dir, LAB_FILE), JSON.stringify(record, null, 2));

    const address = `unix://${record.socket}`;
    cri = new CriClient(address);
    const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
    for (;;) {
      if (exited) throw new Error(`${exited}; log tail:\n${tail(logFile)}`);
      if (existsSync(record.socket)) {
        try {
          await cri.version(1000);
          break;
        } catch {
          // CRI plugin not serving yet
        }
      }
      if (Date.now() > deadline) throw new Error(`containerd did not serve CRI on ${record.socket}; log tail:\n${tail(logFile)}`);
      await sleep(100);
    }
    for (const img of images) {
      await execa('ctr', ['--address', record.socket, '-n', NAMESPACE, 'images', 'import', img.tar], { env: { PATH: CLEAN_PATH }, extendEnv: false });
      if (!(await cri.imageStatus(img.name))) throw new Error(`image ${img.name} imported but CRI does not see it`);
    }

    const kubelet = new Kubelet(cri, { podLogRoot: join(dir, 'pods'), cgroupRoot: record.cgroupRoot });
    let stopped: Promise<TeardownReport> | undefined;
    const lab: Lab = {
      ...record,
      pid: child.pid,
      address,
      logFile,
      runcRoot: join(dir, 'runc'),
      handlers,
      images,
      cri,
      kubelet,
      containerdLog: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
      stop: () => {
        stopped ??= teardownLab(dir, { client: cri });
        return stopped;
      },
    };
    return lab;
  } catch (e) {
    const report = await teardownLab(dir, { client: cri });
    if (report.problems.length) (e as Error).message += `\n(teardown problems: ${report.problems.join('; ')})`;
    throw e;
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function readLabRecord(dir: string): LabRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, LAB_FILE), 'utf8')) as LabRecord;
  } catch {
    return undefined;
  }
}

/** Labs under `parent` (default /tmp/flox-e2e) with their records. */
export function listLabs(parent: string = labParentDir()): LabRecord[] {
  if (!existsSync(parent)) return [];
  return readdirSync(parent)
    .map((n) => readLabRecord(join(parent, n)))
    .filter((r): r is LabRecord => r !== undefined);
}

/** Tears down labs whose starting process died without stopping them (killed test runs). */
export async function reapStaleLabs(parent: string = labParentDir()): Promise<string[]> {
  const reaped: string[] = [];
  for (const r of listLabs(parent)) {
    if (r.persistent || alive(r.owner, r.ownerStart)) continue;
    // claim it: only one concurrent reaper wins the rename
    try {
      renameSync(join(r.dir, LAB_FILE), join(r.dir, `${LAB_FILE}.reaping`));
    } catch {
      continue;
    }
    await teardownLab(r.dir, { record: r });
    reaped.push(r.dir);
  }
  return reaped;
}

/** Paths in /proc/mounts under `dir`, deepest first (octal escapes decoded). */
function mountsUnder(dir: string): string[] {
  const decode = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => decode(l.split(' ')[1] ?? ''))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** containerd-shim-runc-v2 1.6's socket: /run/containerd/s/sha256(<grpc address>/<ns>/<id>). */
function shimSocket(socket: string, ns: string, id: string): string {
  return join('/run/containerd/s', createHash('sha256').update(join(socket, ns, id)).digest('hex'));
}

async function removeCgroupTree(path: string): Promise<void> {
  for (const e of await readdir(path, { withFileTypes: true })) {
    if (e.isDirectory()) await removeCgroupTree(join(path, e.name));
  }
  await rmdir(path);
}

export interface TeardownOptions {
  record?: LabRecord;
  /** A connected client to reuse for stopping pods. */
  client?: CriClient;
}

/**
 * The lab's teardown (run.sh stop + teardown): stop and remove pods over CRI, stop
 * containerd, kill leftover shims and runc containers, unmount what is left under the lab dir,
 * remove its cgroups and shim sockets, remove the dir. Works from any process given the dir.
 */
export async function teardownLab(dir: string, opts: TeardownOptions = {}): Promise<TeardownReport> {
  const problems: string[] = [];
  const rec = opts.record ?? readLabRecord(dir) ?? readLabRecordFile(join(dir, `${LAB_FILE}.reaping`));
  const socket = rec?.socket ?? join(dir, 'containerd.sock');
  const running = alive(rec?.pid, rec?.pidStart) && cmdline(rec?.pid ?? 0).includes(rec?.configFile ?? '\0');

  // 1. pods, the way kubelet would, so the shims run their normal delete path
  const client = opts.client ?? (running ? new CriClient(`unix://${socket}`, { timeoutMs: 30_000 }) : undefined);
  if (running && client) {
    try {
      const kubelet = new Kubelet(client, { podLogRoot: join(dir, 'pods'), cgroupRoot: rec?.cgroupRoot ?? '' });
      problems.push(...(await kubelet.removeAllPods()));
    } catch (e) {
      problems.push(`listing pods: ${(e as Error).message}`);
    }
  }
  client?.close();

  // shim ids, for their sockets in /run/containerd/s
  const shimSockets: string[] = [];
  const taskDir = join(dir, 'state', 'io.containerd.runtime.v2.task');
  if (existsSync(taskDir)) {
    for (const ns of readdirSync(taskDir)) {
      for (const id of readdirSync(join(taskDir, ns))) shimSockets.push(shimSocket(socket, ns, id));
    }
  }

  // 2. containerd
  if (running && rec?.pid) {
    signal(rec.pid, 'SIGTERM');
    const end = Date.now() + 10_000;
    while (alive(rec.pid, rec.pidStart) && Date.now() < end) await sleep(100);
    if (alive(rec.pid, rec.pidStart)) {
      problems.push('containerd ignored SIGTERM for 10 s; killed');
      signal(rec.pid, 'SIGKILL');
    }
  }

  // 3. leftover runc containers and shims started by this containerd (argv names our socket)
  const runcRoot = join(dir, 'runc');
  if (existsSync(runcRoot)) {
    for (const ns of readdirSync(runcRoot)) {
      const root = join(runcRoot, ns);
      const { stdout } = await execa('runc', ['--root', root, 'list', '-q'], { reject: false });
      for (const cid of stdout.split('\n').filter(Boolean)) {
        problems.push(`leftover runc container ${cid.slice(0, 12)}`);
        await execa('runc', ['--root', root, 'delete', '--force', cid], { reject: false });
      }
    }
  }
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number)) {
    const argv = cmdline(p);
    if (!argv[0]?.includes('containerd-shim')) continue;
    const a = argv.indexOf('-address');
    if (a < 0 || argv[a + 1] !== socket) continue;
    problems.push(`leftover shim pid ${p}`);
    signal(p, 'SIGKILL');
  }
  for (const s of shimSockets) await unlink(s).catch(() => undefined);

  // 4. mounts (rootfs overlays, shm, netns), deepest first; a few passes for stacked mounts
  for (let pass = 0; pass < 3; pass++) {
    const ms = mountsUnder(dir);
    if (!ms.length) break;
    for (const m of ms) await execa('umount', ['-l', m], { reject: false });
  }
  for (const m of mountsUnder(dir)) problems.push(`still mounted: ${m}`);

  // 5. pod cgroups (kubelet would remove them; containerd leaves the pod level behind)
  if (rec?.cgroupRoot) {
    const roots = existsSync('/sys/fs/cgroup') ? ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((n) => join('/sys/fs/cgroup', n))] : [];
    for (const r of roots) {
      const path = join(r, rec.cgroupRoot);
      if (!existsSync(path)) continue;
      // cgroups of exited processes may linger for a moment
      let lastErr: unknown;
      for (let i = 0; i < 20 && existsSync(path); i++) {
        try {
          await removeCgroupTree(path);
        } catch (e) {
          lastErr = e;
          await sleep(100);
        }
      }
      if (existsSync(path)) problems.push(`cgroup ${path}: ${(lastErr as Error | undefined)?.message}`);
    }
  }

  // 6. the dir, then the shared dirs when nobody else uses them
  try {
    await rm(dir, { recursive: true, force: true });
  } catch (e) {
    problems.push(`rm ${dir}: ${(e as Error).message}`);
  }
  const parent = join(dir, '..');
  // another lab, or any other containerd (someone's experiment), may be about to put a shim
  // socket into /run/containerd/s: leave the shared dirs alone then
  const othersRunning = listLabs(parent).length > 0 || otherContainerdRunning();
  if (!othersRunning && !existsSync('/run/containerd/containerd.sock')) {
    for (const d of ['/run/containerd/s', '/run/containerd/fifo', '/run/containerd']) {
      try {
        if (existsSync(d) && statSync(d).isDirectory()) rmdirSync(d);
      } catch {
        // not empty: someone else's
      }
    }
  }
  try {
    rmdirSync(parent);
  } catch {
    // other labs, or the image cache of a custom layout
  }
  return { problems };
}

function otherContainerdRunning(): boolean {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .some((p) => (cmdline(Number(p))[0] ?? '').split('/').pop() === 'containerd');
}

function readLabRecordFile(path: string): LabRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LabRecord;
  } catch {
    return undefined;
  }
}

/** Reads the file a lab keeps on disk; for CLIs that only know the dir. */
export async function labRecordOf(dir: string): Promise<LabRecord> {
  return JSON.parse(await readFile(join(dir, LAB_FILE), 'utf8')) as LabRecord;
}
