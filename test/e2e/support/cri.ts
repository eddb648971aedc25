// A typed CRI v1 client over containerd's gRPC unix socket, and `Kubelet`, helpers that fill
// in requests roughly as kubelet does for a hostNetwork pod (cri.md §4). Field names are the
// proto's (snake_case: the loader runs with keepCase).
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { supportFile } from './paths.js';
import { openStream, type StreamResult } from './cri-stream.js';

// ---- wire types (subset of runtime.v1, see cri.proto) ----

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';
export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
export type MountPropagation = 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';

export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  target_id?: string;
}
export interface CriMount {
  container_path: string;
  host_path: string;
  readonly?: boolean;
  selinux_relabel?: boolean;
  propagation?: MountPropagation;
}
export interface KeyValue {
  key: string;
  value: string;
}
export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}
export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname: string;
  log_directory: string;
  dns_config?: { servers: string[]; searches: string[]; options: string[] };
  port_mappings?: unknown[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  linux: {
    cgroup_parent: string;
    security_context: { namespace_options: NamespaceOption; privileged?: boolean };
    sysctls?: Record<string, string>;
  };
}
export interface ContainerConfig {
  metadata: { name: string; attempt: number };
  image: { image: string; annotations?: Record<string, string> };
  command: string[];
  args: string[];
  working_dir: string;
  envs: KeyValue[];
  mounts: CriMount[];
  devices: unknown[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  log_path: string;
  stdin: boolean;
  stdin_once: boolean;
  tty: boolean;
  linux: {
    resources?: { cpu_shares?: number; oom_score_adj?: number; memory_limit_in_bytes?: number };
    security_context: {
      namespace_options: NamespaceOption;
      privileged?: boolean;
      readonly_rootfs?: boolean;
      masked_paths?: string[];
      readonly_paths?: string[];
      run_as_user?: { value: number };
    };
  };
}
export interface VersionResponse {
  version: string;
  runtime_name: string;
  runtime_version: string;
  runtime_api_version: string;
}
export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}
export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata;
  state: PodSandboxState;
  created_at: number;
  network: { ip: string } | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtime_handler: string;
}
export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata;
  state: PodSandboxState;
  created_at: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtime_handler: string;
}
export interface ContainerSummary {
  id: string;
  pod_sandbox_id: string;
  metadata: { name: string; attempt: number };
  image_ref: string;
  state: ContainerState;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
export interface ContainerStatus {
  id: string;
  metadata: { name: string; attempt: number };
  state: ContainerState;
  created_at: number;
  started_at: number;
  finished_at: number;
  exit_code: number;
  image: { image: string } | null;
  image_ref: string;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  mounts: CriMount[];
  log_path: string;
}
export interface CriImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: number;
}
export interface ExecSyncResponse {
  stdout: Buffer;
  stderr: Buffer;
  exit_code: number;
}

/** A failed CRI call; `message` carries the gRPC details (the text kubelet would show). */
export class CriError extends Error {
  constructor(
    readonly method: string,
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`${method}: ${grpc.status[code] ?? code}: ${details}`);
    this.name = 'CriError';
  }
}

export interface CriClientOptions {
  /** Per-call deadline unless a call passes its own. */
  timeoutMs?: number;
  protoPath?: string;
}

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type Method = (req: unknown, opts: grpc.CallOptions, cb: Callback) => void;
type ServiceCtor = new (address: string, creds: grpc.ChannelCredentials) => grpc.Client;

let packageCache: { runtime: ServiceCtor; image: ServiceCtor } | undefined;

function loadServices(protoPath: string): { runtime: ServiceCtor; image: ServiceCtor } {
  if (packageCache) return packageCache;
  const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  const root = grpc.loadPackageDefinition(def) as unknown as {
    runtime: { v1: { RuntimeService: ServiceCtor; ImageService: ServiceCtor } };
  };
  packageCache = { runtime: root.runtime.v1.RuntimeService, image: root.runtime.v1.ImageService };
  return packageCache;
}

/** Raw typed CRI calls. `address` is `unix:///path/to/containerd.sock`. */
export class CriClient {
  private readonly rt: grpc.Client;
  private readonly img: grpc.Client;
  private readonly timeoutMs: number;

  constructor(
    readonly address: string,
    opts: CriClientOptions = {},
  ) {
    const svc = loadServices(opts.protoPath ?? supportFile('cri.proto'));
    this.rt = new svc.runtime(address, grpc.credentials.createInsecure());
    this.img = new svc.image(address, grpc.credentials.createInsecure());
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  private call<T>(client: grpc.Client, method: string, req: unknown, timeoutMs?: number): Promise<T> {
    const fn = (client as unknown as Record<string, Method>)[method];
    if (!fn) return Promise.reject(new Error(`no such CRI method ${method}`));
    return new Promise<T>((resolve, reject) => {
      fn.call(client, req, { deadline: Date.now() + (timeoutMs ?? this.timeoutMs) }, (err, res) => {
        if (err) reject(new CriError(method, err.code, err.details));
        else resolve(res as T);
      });
    });
  }

  close(): void {
    this.rt.close();
    this.img.close();
  }

  version(timeoutMs?: number): Promise<VersionResponse> {
    return this.call(this.rt, 'Version', { version: 'v1' }, timeoutMs);
  }
  async status(): Promise<RuntimeCondition[]> {
    const r = await this.call<{ status: { conditions: RuntimeCondition[] } | null }>(this.rt, 'Status', { verbose: false });
    return r.status?.conditions ?? [];
  }
  async runPodSandbox(config: PodSandboxConfig, runtimeHandler: string, timeoutMs?: number): Promise<string> {
    const r = await this.call<{ pod_sandbox_id: string }>(
      this.rt,
      'RunPodSandbox',
      { config, runtime_handler: runtimeHandler },
      timeoutMs,
    );
    return r.pod_sandbox_id;
  }
  async stopPodSandbox(id: string): Promise<void> {
    await this.call(this.rt, 'StopPodSandbox', { pod_sandbox_id: id });
  }
  async removePodSandbox(id: string): Promise<void> {
    await this.call(this.rt, 'RemovePodSandbox', { pod_sandbox_id: id });
  }
  async podSandboxStatus(id: string, verbose = false): Promise<{ status: PodSandboxStatus; info: Record<string, string> }> {
    return this.call(this.rt, 'PodSandboxStatus', { pod_sandbox_id: id, verbose });
  }
  async listPodSandbox(): Promise<PodSandbox[]> {
    const r = await this.call<{ items: PodSandbox[] }>(this.rt, 'ListPodSandbox', {});
    return r.items;
  }
  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const r = await this.call<{ container_id: string }>(this.rt, 'CreateContainer', {
      pod_sandbox_id: podSandboxId,
      config,
      sandbox_config: sandboxConfig,
    });
    return r.container_id;
  }
  async startContainer(id: string, timeoutMs?: number): Promise<void> {
    await this.call(this.rt, 'StartContainer', { container_id: id }, timeoutMs);
  }
  async stopContainer(id: string, timeoutSeconds = 0): Promise<void> {
    await this.call(this.rt, 'StopContainer', { container_id: id, timeout: timeoutSeconds }, (timeoutSeconds + 30) * 1000);
  }
  async removeContainer(id: string): Promise<void> {
    await this.call(this.rt, 'RemoveContainer', { container_id: id });
  }
  async listContainers(podSandboxId?: string): Promise<ContainerSummary[]> {
    const r = await this.call<{ containers: ContainerSummary[] }>(this.rt, 'ListContainers', {
      filter: podSandboxId ? { pod_sandbox_id: podSandboxId } : {},
    });
    return r.containers;
  }
  async containerStatus(id: string, verbose = false): Promise<{ status: ContainerStatus; info: Record<string, string> }> {
    return this.call(this.rt, 'ContainerStatus', { container_id: id, verbose });
  }
  /** `timeoutSeconds` is CRI's exec timeout (0 = none); the gRPC deadline is a bit longer. */
  /** Exec / Attach: the URL of the runtime's stream server for this request (then see cri-stream.ts). */
  async exec(req: { container_id: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): Promise<string> {
    return (await this.call<{ url: string }>(this.rt, 'Exec', req)).url;
  }
  async attach(req: { container_id: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): Promise<string> {
    return (await this.call<{ url: string }>(this.rt, 'Attach', req)).url;
  }
  async execSync(id: string, cmd: string[], timeoutSeconds = 30): Promise<ExecSyncResponse> {
    return this.call(this.rt, 'ExecSync', { container_id: id, cmd, timeout: timeoutSeconds }, (timeoutSeconds + 30) * 1000);
  }
  async listImages(): Promise<CriImage[]> {
    const r = await this.call<{ images: CriImage[] }>(this.img, 'ListImages', {});
    return r.images;
  }
  async imageStatus(image: string): Promise<CriImage | null> {
    const r = await this.call<{ image: CriImage | null }>(this.img, 'ImageStatus', { image: { image } });
    return r.image;
  }
}

// ---- kubelet-like helpers ----

/** What kubelet sends as masked/readonly paths by default (DefaultProcMount). */
export const KUBELET_MASKED_PATHS = [
  '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
];
export const KUBELET_READONLY_PATHS = ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface Pod {
  id: string;
  name: string;
  handler: string;
  config: PodSandboxConfig;
  /** Wall time of RunPodSandbox. */
  runMs: number;
}

export interface Container {
  id: string;
  name: string;
  pod: Pod;
  /** Absolute path of the CRI log file (`<pod log dir>/<name>/<attempt>.log`). */
  logPath: string;
}

export interface RunPodOptions {
  name: string;
  /** RuntimeClass handler: `runc`, `flox`, or one the lab was started with. */
  handler: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  namespace?: string;
  /** NamespaceOption.network = NODE. POD needs CNI, which the lab does not configure (P3). */
  hostNetwork?: true;
  uid?: string;
  timeoutMs?: number;
}

export interface MountOptions {
  hostPath: string;
  containerPath: string;
  readonly?: boolean;
}

export interface CreateContainerOptions {
  name: string;
  image: string;
  /** Replaces the image ENTRYPOINT (like a pod spec's `command`). */
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  /** E.g. the FloxHub token secret: kubelet bind-mounts a host dir at /var/run/secrets/flox.dev. */
  mounts?: MountOptions[];
  workingDir?: string;
  /** Container-level annotations (containerd does not copy them into config.json, cri.md §6). */
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  /** Default: kubelet's lists. Pass [] for none. */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  readonlyRootfs?: boolean;
  /** securityContext.runAsUser */
  runAsUser?: number;
  attempt?: number;
  /** kubelet's stdin/stdinOnce/tty from the pod spec (GitLab Runner: stdin true, the others false) */
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
}

export interface LogLine {
  time: string;
  /** Nanoseconds since the epoch as a number of ms (fractional). */
  timeMs: number;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface KubeletOptions {
  /** Parent of the pod log directories (kubelet: /var/log/pods). */
  podLogRoot: string;
  /** First cgroup path element for pods (kubelet: kubepods); the lab removes it at teardown. */
  cgroupRoot: string;
  timeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Parses an RFC3339Nano time into epoch ms with sub-ms precision. */
export function parseCriTime(t: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return Number.NaN;
  const base = Date.parse(`${m[1]}${m[3]}`);
  const frac = m[2] ? Number(`0.${m[2]}`) * 1000 : 0;
  return base + frac;
}

/**
 * Parses the CRI log format: `<RFC3339Nano> <stdout|stderr> <P|F> <text>`. P(artial)
 * fragments are joined with the next line of the same stream up to its F(ull) tag.
 */
export function parseCriLog(text: string): LogLine[] {
  const out: LogLine[] = [];
  const partial: Record<string, { time: string; text: string }> = {};
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    const m = /^(\S+) (stdout|stderr) ([PF]) ?(.*)$/.exec(raw);
    if (!m) continue;
    const [, time = '', stream = 'stdout', tag, body = ''] = m;
    const prev = partial[stream];
    const joined = (prev?.text ?? '') + body;
    const first = prev?.time ?? time;
    if (tag === 'P') {
      partial[stream] = { time: first, text: joined };
      continue;
    }
    delete partial[stream];
    out.push({ time: first, timeMs: parseCriTime(first), stream: stream as 'stdout' | 'stderr', line: joined });
  }
  return out;
}

/** Kubelet-like CRI usage: one pod per RunPodSandbox, containers in it, clean teardown. */
export class Kubelet {
  readonly client: CriClient;
  private readonly opts: KubeletOptions;

  constructor(client: CriClient, opts: KubeletOptions) {
    this.client = client;
    this.opts = opts;
  }

  /** RunPodSandbox with a hostNetwork pod config as kubelet builds it. */
  async runPod(o: RunPodOptions): Promise<Pod> {
    const uid = o.uid ?? randomUUID();
    const namespace = o.namespace ?? 'default';
    const logDir = join(this.opts.podLogRoot, `${namespace}_${o.name}_${uid}`);
    mkdirSync(logDir, { recursive: true });
    const config: PodSandboxConfig = {
      metadata: { name: o.name, uid, namespace, attempt: 0 },
      // kubelet leaves it empty for hostNetwork; runc refuses a hostname without UTS ns (P2)
      hostname: '',
      log_directory: logDir,
      dns_config: { servers: [], searches: [], options: [] },
      port_mappings: [],
      labels: {
        'io.kubernetes.pod.name': o.name,
        'io.kubernetes.pod.namespace': namespace,
        'io.kubernetes.pod.uid': uid,
        ...o.labels,
      },
      annotations: { ...o.annotations },
      linux: {
        cgroup_parent: `/${this.opts.cgroupRoot}/pod${uid}`,
        security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD', target_id: '' } },
        sysctls: {},
      },
    };
    const t0 = performance.now();
    const id = await this.client.runPodSandbox(config, o.handler, o.timeoutMs ?? this.opts.timeoutMs);
    return { id, name: o.name, handler: o.handler, config, runMs: performance.now() - t0 };
  }

  /** CreateContainer (never runs the OCI runtime on containerd 1.6: errors show at start, P4). */
  async createContainer(pod: Pod, o: CreateContainerOptions): Promise<Container> {
    const attempt = o.attempt ?? 0;
    mkdirSync(join(pod.config.log_directory, o.name), { recursive: true });
    const config: ContainerConfig = {
      metadata: { name: o.name, attempt },
      image: { image: o.image, annotations: {} },
      command: o.command ?? [],
      args: o.args ?? [],
      working_dir: o.workingDir ?? '',
      envs: Object.entries(o.env ?? {}).map(([key, value]) => ({ key, value })),
      mounts: (o.mounts ?? []).map((m) => ({
        container_path: m.containerPath,
        host_path: m.hostPath,
        readonly: m.readonly ?? false,
        selinux_relabel: false,
        propagation: 'PROPAGATION_PRIVATE',
      })),
      devices: [],
      labels: {
        'io.kubernetes.container.name': o.name,
        'io.kubernetes.pod.name': pod.name,
        'io.kubernetes.pod.namespace': pod.config.metadata.namespace,
        'io.kubernetes.pod.uid': pod.config.metadata.uid,
        ...o.labels,
      },
      annotations: { 'io.kubernetes.container.restartCount': String(attempt), ...o.annotations },
      log_path: `${o.name}/${attempt}.log`,
      stdin: o.stdin ?? false,
      stdin_once: o.stdinOnce ?? false,
      tty: o.tty ?? false,
      linux: {
        resources: { cpu_shares: 2, oom_score_adj: 1000 },
        security_context: {
          namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD', target_id: '' },
          readonly_rootfs: o.readonlyRootfs ?? false,
          masked_paths: o.maskedPaths ?? KUBELET_MASKED_PATHS,
          readonly_paths: o.readonlyPaths ?? KUBELET_READONLY_PATHS,
          ...(o.runAsUser !== undefined && { run_as_user: { value: o.runAsUser } }),
        },
      },
    };
    const id = await this.client.createContainer(pod.id, config, pod.config);
    return { id, name: o.name, pod, logPath: join(pod.config.log_directory, o.name, `${attempt}.log`) };
  }

  /** StartContainer: this is where runc (or the wrapper) create+start run, and fail. */
  async startContainer(c: Container, timeoutMs?: number): Promise<void> {
    await this.client.startContainer(c.id, timeoutMs ?? this.opts.timeoutMs);
  }

  /** CreateContainer + StartContainer. */
  async run(pod: Pod, o: CreateContainerOptions): Promise<Container> {
    const c = await this.createContainer(pod, o);
    await this.startContainer(c);
    return c;
  }

  async containerStatus(c: Container, verbose = false): Promise<ContainerStatus & { info?: Record<string, unknown> }> {
    const r = await this.client.containerStatus(c.id, verbose);
    const info = verbose && r.info.info ? (JSON.parse(r.info.info) as Record<string, unknown>) : undefined;
    return info ? { ...r.status, info } : r.status;
  }

  /** Polls ContainerStatus until the container has exited. */
  async waitForExit(c: Container, timeoutMs = 30_000): Promise<ContainerStatus> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.containerStatus(c);
      if (s.state === 'CONTAINER_EXITED') return s;
      if (Date.now() > end) throw new Error(`container ${c.name} still ${s.state} after ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** The container's CRI log, parsed (empty when nothing was written yet). */
  readLog(c: Container): LogLine[] {
    return existsSync(c.logPath) ? parseCriLog(readFileSync(c.logPath, 'utf8')) : [];
  }

  /** Polls the log file until a line matches (default: any line). `pollMs` bounds detection lag. */
  async waitForLog(
    c: Container,
    match: (l: LogLine) => boolean = () => true,
    opts: { timeoutMs?: number; pollMs?: number } = {},
  ): Promise<LogLine> {
    const end = Date.now() + (opts.timeoutMs ?? 30_000);
    for (;;) {
      const hit = this.readLog(c).find(match);
      if (hit) return hit;
      if (Date.now() > end) {
        throw new Error(`no matching log line from ${c.name} within ${opts.timeoutMs ?? 30_000} ms; log: ${JSON.stringify(this.readLog(c))}`);
      }
      await sleep(opts.pollMs ?? 5);
    }
  }

  /**
   * CRI Exec over the stream server, as kubelet serves `kubectl exec` and GitLab Runner's
   * exec calls: `input` goes to the process's stdin (then the stream stays open until the
   * process exits; see cri-stream.ts on half-closing).
   */
  async exec(c: Container, cmd: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<StreamResult> {
    const url = await this.client.exec({ container_id: c.id, cmd, tty: false, stdin: o.input !== undefined, stdout: true, stderr: true });
    const s = openStream(url, { timeoutMs: o.timeoutMs ?? 60_000 });
    await s.ready;
    if (o.input !== undefined) s.write(o.input);
    return s.done;
  }

  /** CRI Attach with stdin only (GitLab Runner's AttachOptions): writes `input`, then detaches. */
  async attachWrite(c: Container, input: string): Promise<void> {
    const url = await this.client.attach({ container_id: c.id, tty: false, stdin: true, stdout: false, stderr: false });
    const s = openStream(url, { timeoutMs: 30_000 });
    await s.ready;
    s.write(input);
    // let the bytes reach the container's stdin FIFO before the stream goes away
    await new Promise((r) => setTimeout(r, 100));
    s.close();
    await s.done;
  }

  async execSync(c: Container, cmd: string[], timeoutSeconds = 30): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    const r = await this.client.execSync(c.id, cmd, timeoutSeconds);
    return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), exitCode: r.exit_code };
  }

  async stopContainer(c: Container, timeoutSeconds = 0): Promise<void> {
    await this.client.stopContainer(c.id, timeoutSeconds);
  }

  /** Stops and removes every container of the pod, then stops the sandbox (kubelet's order). */
  async stopPod(pod: Pod | string): Promise<void> {
    const id = typeof pod === 'string' ? pod : pod.id;
    for (const c of await this.client.listContainers(id)) await this.stopAndRemove(c.id);
    await this.client.stopPodSandbox(id);
  }

  /**
   * StopContainer + RemoveContainer, retried briefly. containerd 1.6 races with a container
   * that is exiting on its own: its exit handler deletes the task before marking the
   * container exited, so StopContainer may return (or fail with "ttrpc: closed") while
   * RemoveContainer still says "container is still running". Kubelet simply retries later.
   */
  async stopAndRemove(containerId: string, timeoutMs = 5_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.client.stopContainer(containerId, 0);
        await this.client.removeContainer(containerId);
        return;
      } catch (e) {
        if (e instanceof CriError && e.code === grpc.status.NOT_FOUND) return;
        if (Date.now() > end) throw e;
        await sleep(50);
      }
    }
  }

  async removePod(pod: Pod | string): Promise<void> {
    await this.client.removePodSandbox(typeof pod === 'string' ? pod : pod.id);
  }

  /** Runs `fn` in a fresh pod and always stops and removes the pod afterwards. */
  async withPod<T>(o: RunPodOptions, fn: (pod: Pod) => Promise<T>): Promise<T> {
    const pod = await this.runPod(o);
    let failed = false;
    try {
      return await fn(pod);
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      try {
        await this.stopPod(pod);
        await this.removePod(pod);
      } catch (e) {
        // keep the test's own error; the lab teardown retries the cleanup
        if (!failed) throw e;
      }
    }
  }

  /** Stops and removes every pod in this containerd (lab teardown, leftovers of failed tests). */
  async removeAllPods(): Promise<string[]> {
    const errors: string[] = [];
    for (const p of await this.client.listPodSandbox()) {
      try {
        await this.stopPod(p.id);
        await this.removePod(p.id);
      } catch (e) {
        errors.push(`pod ${p.metadata.name} ${p.id.slice(0, 12)}: ${(e as Error).message}`);
      }
    }
    return errors;
  }
}
