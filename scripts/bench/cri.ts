// Pod start over CRI, as kubelet experiences it: RunPodSandbox → CreateContainer →
// StartContainer → first line in the container's CRI log. Handlers are interleaved round-robin
// (rotating the order each round) so drift hits all of them alike; runc is the baseline.
// Used by scripts/bench/cri.mjs (CLI and the export the main bench runner calls).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readLabRecord, startLab, type HandlerBinary, type Lab } from '../../test/e2e/support/containerd.js';
import { CriClient, Kubelet } from '../../test/e2e/support/cri.js';
import { BUSYBOX_IMAGE } from '../../test/e2e/support/images.js';

export const BASELINE = 'runc';

/** What runs in the measured container; per handler, so a flox handler can use flox/empty. */
export interface Workload {
  image: string;
  command: string[];
  /** Pod annotations, e.g. { 'flox.dev/environment': 'owner/env' }. */
  annotations?: Record<string, string>;
}

export const DEFAULT_WORKLOAD: Workload = { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo flox-bench-ready'] };

export interface PodStartOptions {
  kubelet: Kubelet;
  /** Handlers measured against runc (runc itself is always measured and may be omitted). */
  handlers: string[];
  iterations?: number;
  /** Unrecorded rounds first (one-off costs: page cache, first shim of a handler). */
  warmup?: number;
  workload?: Workload;
  /** Per-handler workload overrides. */
  workloads?: Record<string, Workload>;
  onSample?: (s: PodStartSample) => void;
}

export interface PodStartSample {
  handler: string;
  iteration: number;
  sandboxMs: number;
  createMs: number;
  startMs: number;
  /** From the RunPodSandbox call to the first log line's timestamp (containerd's clock). */
  firstLineMs: number;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export interface HandlerSummary {
  handler: string;
  n: number;
  sandboxMs: Stat;
  createMs: Stat;
  startMs: Stat;
  firstLineMs: Stat;
  /** Median firstLineMs / runc's median firstLineMs. */
  ratioVsRunc: number;
  /** Median over rounds of (this handler's firstLineMs − runc's in the same round): less drift. */
  pairedDeltaMs: number;
}

export interface PodStartResult {
  iterations: number;
  summaries: HandlerSummary[];
  samples: PodStartSample[];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const stat = (xs: number[]): Stat => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

let podSeq = 0;

/** One pod start; the pod is removed afterwards (not timed). */
export async function podStartOnce(kubelet: Kubelet, handler: string, w: Workload, iteration = 0): Promise<PodStartSample> {
  const name = `bench-${handler}-${process.pid}-${podSeq++}`;
  const t0Wall = Date.now();
  const t0 = performance.now();
  const pod = await kubelet.runPod({ name, handler, annotations: w.annotations ?? {} });
  try {
    const t1 = performance.now();
    const c = await kubelet.createContainer(pod, { name: 'main', image: w.image, command: w.command });
    const t2 = performance.now();
    await kubelet.startContainer(c);
    const t3 = performance.now();
    const line = await kubelet.waitForLog(c, () => true, { timeoutMs: 60_000, pollMs: 2 });
    const seen = performance.now();
    // containerd stamps the line when it reads it; fall back to when we saw it
    const firstLineMs = Number.isFinite(line.timeMs) ? line.timeMs - t0Wall : seen - t0;
    return { handler, iteration, sandboxMs: t1 - t0, createMs: t2 - t1, startMs: t3 - t2, firstLineMs };
  } finally {
    await kubelet.stopPod(pod);
    await kubelet.removePod(pod);
  }
}

/** Measures pod start for runc and `handlers`, interleaved, `iterations` samples each. */
export async function measurePodStart(o: PodStartOptions): Promise<PodStartResult> {
  const handlers = [BASELINE, ...o.handlers.filter((h) => h !== BASELINE)];
  const iterations = o.iterations ?? 10;
  const workloadOf = (h: string): Workload => o.workloads?.[h] ?? o.workload ?? DEFAULT_WORKLOAD;
  for (let i = 0; i < (o.warmup ?? 1); i++) {
    for (const h of handlers) await podStartOnce(o.kubelet, h, workloadOf(h), -1);
  }
  const samples: PodStartSample[] = [];
  for (let i = 0; i < iterations; i++) {
    for (let j = 0; j < handlers.length; j++) {
      const h = handlers[(i + j) % handlers.length] as string;
      const s = await podStartOnce(o.kubelet, h, workloadOf(h), i);
      samples.push(s);
      o.onSample?.(s);
    }
  }
  const of = (h: string): PodStartSample[] => samples.filter((s) => s.handler === h);
  const base = median(of(BASELINE).map((s) => s.firstLineMs));
  const summaries = handlers.map((h): HandlerSummary => {
    const ss = of(h);
    const firstLineMs = stat(ss.map((s) => s.firstLineMs));
    const deltas = ss.flatMap((s) => {
      const b = samples.find((x) => x.handler === BASELINE && x.iteration === s.iteration);
      return b ? [s.firstLineMs - b.firstLineMs] : [];
    });
    return {
      handler: h,
      n: ss.length,
      sandboxMs: stat(ss.map((s) => s.sandboxMs)),
      createMs: stat(ss.map((s) => s.createMs)),
      startMs: stat(ss.map((s) => s.startMs)),
      firstLineMs,
      ratioVsRunc: firstLineMs.median / base,
      pairedDeltaMs: median(deltas),
    };
  });
  return { iterations, summaries, samples };
}

export function formatPodStart(r: PodStartResult): string {
  const f = (n: number): string => n.toFixed(1).padStart(8);
  const head = `${'handler'.padEnd(14)} ${'n'.padStart(3)} ${'sandbox'.padStart(8)} ${'create'.padStart(8)} ${'start'.padStart(8)} ${'1st line'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)}  vs runc  paired Δ`;
  const rows = r.summaries.map(
    (s) =>
      `${s.handler.padEnd(14)} ${String(s.n).padStart(3)} ${f(s.sandboxMs.median)} ${f(s.createMs.median)} ${f(s.startMs.median)} ${f(s.firstLineMs.median)} ${f(s.firstLineMs.min)} ${f(s.firstLineMs.max)}  ${s.ratioVsRunc.toFixed(2).padStart(6)}x ${f(s.pairedDeltaMs)}`,
  );
  return [`pod start over CRI, medians in ms (${r.iterations} interleaved rounds)`, head, ...rows].join('\n');
}

export interface BenchPodStartOptions extends Omit<PodStartOptions, 'kubelet' | 'handlers'> {
  /** Handlers to register in a private lab: name → BinaryName (`flox` sets the flox handler). */
  handlers: Record<string, HandlerBinary>;
  /** Environment for containerd and so for every BinaryName (e.g. FLOX_RUNTIME_CONFIG). */
  env?: Record<string, string>;
}

/** Starts a private lab with the given handlers, measures, always tears the lab down. */
export async function benchPodStart(o: BenchPodStartOptions): Promise<PodStartResult> {
  const { flox, [BASELINE]: _runc, ...extra } = o.handlers; // runc is built in
  const lab: Lab = await startLab({ ...(flox !== undefined ? { floxBinary: flox } : {}), handlers: extra, env: o.env ?? {} });
  try {
    return await measurePodStart({ ...o, kubelet: lab.kubelet, handlers: Object.keys(o.handlers) });
  } finally {
    const report = await lab.stop();
    if (report.problems.length) process.emitWarning(`lab teardown: ${report.problems.join('; ')}`);
  }
}

/**
 * Measures against an already running containerd. For a lab from scripts/e2e/lab.mjs the pod
 * logs and cgroups go where that lab's teardown finds them; otherwise logs go to a temp dir.
 */
export async function benchPodStartOnSocket(socket: string, o: Omit<PodStartOptions, 'kubelet'>): Promise<PodStartResult> {
  const path = socket.replace(/^unix:\/\//, '');
  const rec = readLabRecord(dirname(path));
  const logRoot = rec ? join(rec.dir, 'pods') : mkdtempSync(join(tmpdir(), 'flox-bench-logs-'));
  const client = new CriClient(`unix://${path}`);
  try {
    const kubelet = new Kubelet(client, { podLogRoot: logRoot, cgroupRoot: rec?.cgroupRoot ?? 'flox-bench' });
    return await measurePodStart({ ...o, kubelet });
  } finally {
    client.close();
    if (!rec) rmSync(logRoot, { recursive: true, force: true });
  }
}
