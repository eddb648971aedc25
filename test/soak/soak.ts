// The soak: pods of several hub environments started and stopped through CRI at a steady rate in
// a private containerd whose flox handler is bin/flox-runtime, with `flox-runtime gc` in the
// background. Bounded in pods and time; stops by itself. Samples containerd's open fds and the
// state dir's disk usage, and reports p50/p99 start latency and every error.
// Used by test/soak/soak.test.ts (short CI mode) and scripts/soak.mjs (SOAK_SECONDS=600).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startFloxLab, type FloxLab } from '../e2e/support/flox-lab.js';
import { EMPTY_IMAGE } from '../e2e/support/images.js';
import { FRONTEND, REPO } from '../support/paths.js';

export interface SoakOptions {
  seconds: number;
  /** hard cap on pods started */
  maxPods?: number;
  /** one pod started every intervalMs (when fewer than maxInFlight are running) */
  intervalMs?: number;
  maxInFlight?: number;
  envs?: string[];
  /** run `flox-runtime gc` this often (0: never) */
  gcEverySeconds?: number;
  /** push a new generation of public-owner/hello this often (0: never), alternating hello and
   * hello2, so older generations' renders and store paths become garbage for gc */
  pushEverySeconds?: number;
  sampleEveryMs?: number;
  log?: (line: string) => void;
}

export interface Sample {
  t: number;
  containerdFds: number;
  stateBytes: number;
  pods: number;
}

export interface SoakReport {
  seconds: number;
  pods: number;
  errors: string[];
  latencyMs: { p50: number; p99: number; max: number; n: number };
  gc: { runs: number; failures: string[]; available: boolean; note?: string; removedEnvs: number; removedPaths: number };
  pushes: number;
  samples: Sample[];
  trend: { fdsFirst: number; fdsLast: number; fdsMax: number; bytesFirst: number; bytesLast: number; bytesMax: number };
}

const GC_SOURCE = join(REPO, 'src/cli/commands/gc.ts');

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}

function duBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  try {
    return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
  } catch {
    return NaN; // a path removed by gc while du walked it
  }
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const envs = o.envs ?? ['public-owner/hello', 'public-owner/static', 'public-owner/gitlab', 'public-owner/full'];
  const maxPods = o.maxPods ?? 10_000;
  const intervalMs = o.intervalMs ?? 700;
  const maxInFlight = o.maxInFlight ?? 3;
  const gcAvailable = existsSync(GC_SOURCE);
  const report: SoakReport = {
    seconds: o.seconds,
    pods: 0,
    errors: [],
    latencyMs: { p50: NaN, p99: NaN, max: NaN, n: 0 },
    gc: { runs: 0, failures: [], removedEnvs: 0, removedPaths: 0, available: gcAvailable, ...(!gcAvailable && { note: 'flox-runtime gc not in this checkout: soak ran without gc' }) },
    pushes: 0,
    samples: [],
    trend: { fdsFirst: 0, fdsLast: 0, fdsMax: 0, bytesFirst: 0, bytesLast: 0, bytesMax: 0 },
  };
  const f: FloxLab = await startFloxLab();
  const k = f.lab.kubelet;
  const latencies: number[] = [];
  const t0 = Date.now();
  const deadline = t0 + o.seconds * 1000;
  const inFlight = new Set<Promise<void>>();
  let n = 0;

  const sample = () => {
    let fds = NaN;
    try {
      fds = readdirSync(`/proc/${f.lab.pid}/fd`).length;
    } catch {
      report.errors.push('containerd is gone');
    }
    const s: Sample = { t: Math.round((Date.now() - t0) / 1000), containerdFds: fds, stateBytes: duBytes(f.stateDir), pods: report.pods };
    report.samples.push(s);
    log(`t=${s.t}s pods=${s.pods} containerd-fds=${s.containerdFds} state=${(s.stateBytes / 1e6).toFixed(2)}MB errors=${report.errors.length}`);
  };

  const onePod = async (i: number) => {
    const env = envs[i % envs.length]!;
    const name = `soak-${i}`;
    const started = performance.now();
    try {
      await k.withPod({ name, handler: 'flox', annotations: { 'flox.dev/environment': env } }, async (pod) => {
        const c = await k.run(pod, { name: 'app', image: EMPTY_IMAGE, command: ['hello'] });
        latencies.push(performance.now() - started); // RunPodSandbox → StartContainer returned
        const st = await k.waitForExit(c, 30_000);
        const lines = k.readLog(c).map((l) => l.line);
        if (st.exit_code !== 0 || !lines.some((l) => /^Hello, world!/.test(l))) throw new Error(`exit ${st.exit_code}, output ${JSON.stringify(lines)}`);
      });
    } catch (e) {
      report.errors.push(`${name} (${env}): ${(e as Error).message}`);
    }
  };

  const gcOnce = async () => {
    try {
      const { stdout } = await promisify(execFile)(FRONTEND, ['gc', '--config', f.configPath, '--root', join(f.lab.runcRoot, 'k8s.io'), '--grace', '0s', '--keep-generations', '1', '--json'], { timeout: 60_000 });
      report.gc.runs++;
      try {
        const r = JSON.parse(stdout) as { removeEnvs?: unknown[]; removePaths?: unknown[]; busyPaths?: unknown[] };
        report.gc.removedEnvs += r.removeEnvs?.length ?? 0;
        report.gc.removedPaths += (r.removePaths?.length ?? 0) - (r.busyPaths?.length ?? 0);
      } catch {
        // not JSON: counted as a run, removals unknown
      }
    } catch (e) {
      const err = e as Error & { stdout?: string; stderr?: string };
      report.gc.failures.push(`${err.message.split('\n')[0]} ${err.stderr ?? ''}`.trim());
    }
  };

  const sampler = setInterval(sample, o.sampleEveryMs ?? 3000);
  const pushTimer =
    (o.pushEverySeconds ?? 15) > 0
      ? setInterval(() => {
          try {
            const roles = report.pushes % 2 === 0 ? ['hello2'] : ['hello'];
            const g = f.hub.fixtures.pushPackages({ outDir: f.hub.outDir, owner: 'public-owner', name: 'hello', paths: f.hub.nix, roles });
            report.pushes++;
            log(`pushed public-owner/hello generation ${g.generation} (${roles[0]})`);
          } catch (e) {
            report.errors.push(`push: ${(e as Error).message}`);
          }
        }, (o.pushEverySeconds ?? 15) * 1000)
      : undefined;
  let gcRunning: Promise<void> | undefined;
  const gcTimer =
    gcAvailable && (o.gcEverySeconds ?? 10) > 0
      ? setInterval(() => {
          gcRunning ??= gcOnce().finally(() => (gcRunning = undefined));
        }, (o.gcEverySeconds ?? 10) * 1000)
      : undefined;
  try {
    sample();
    while (Date.now() < deadline && n < maxPods) {
      if (inFlight.size < maxInFlight) {
        const p = onePod(n++).finally(() => {
          report.pods++;
          inFlight.delete(p);
        });
        inFlight.add(p);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    await Promise.all(inFlight);
    await gcRunning;
    sample();
  } finally {
    clearInterval(sampler);
    if (pushTimer) clearInterval(pushTimer);
    if (gcTimer) clearInterval(gcTimer);
    const problems = await f.stop();
    for (const p of problems) report.errors.push(`lab: ${p}`);
  }

  const sorted = latencies.sort((a, b) => a - b);
  report.latencyMs = { p50: Math.round(percentile(sorted, 50)), p99: Math.round(percentile(sorted, 99)), max: Math.round(sorted.at(-1) ?? NaN), n: sorted.length };
  // first and last third of the samples (medians), to see a trend rather than noise
  const third = Math.max(1, Math.floor(report.samples.length / 3));
  const fds = report.samples.map((s) => s.containerdFds);
  const bytes = report.samples.map((s) => s.stateBytes).filter(Number.isFinite);
  report.trend = {
    fdsFirst: median(fds.slice(0, third)),
    fdsLast: median(fds.slice(-third)),
    fdsMax: Math.max(...fds),
    bytesFirst: median(bytes.slice(0, third)),
    bytesLast: median(bytes.slice(-third)),
    bytesMax: Math.max(...bytes),
  };
  return report;
}

export function formatSoak(r: SoakReport): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  return [
    `soak: ${r.pods} pods in ${r.seconds} s, errors ${r.errors.length}`,
    `start latency (RunPodSandbox → StartContainer): p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms (n=${r.latencyMs.n})`,
    `containerd fds: first third ${r.trend.fdsFirst}, last third ${r.trend.fdsLast}, max ${r.trend.fdsMax}`,
    `state dir: first third ${mb(r.trend.bytesFirst)}, last third ${mb(r.trend.bytesLast)}, max ${mb(r.trend.bytesMax)}`,
    `pushes of public-owner/hello: ${r.pushes}`,
    r.gc.available ? `gc: ${r.gc.runs} runs, ${r.gc.failures.length} failures, removed ${r.gc.removedEnvs} rendered environments and ${r.gc.removedPaths} store paths${r.gc.failures.length ? `: ${r.gc.failures.slice(0, 3).join(' | ')}` : ''}` : `gc: ${r.gc.note}`,
    ...r.errors.slice(0, 10).map((e) => `error: ${e}`),
  ].join('\n');
}
