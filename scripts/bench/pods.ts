// Issue 5 benchmark, over CRI in one run: pod start (RunPodSandbox -> StartContainer -> first
// log line) for plain runc with busybox, a pod with no flox annotation under the flox handler,
// and flox pods with a warm and a cold environment; interleaved rounds, medians and ratios.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startFloxLab } from '../../test/e2e/support/flox-lab.js';
import { BUSYBOX_IMAGE, EMPTY_IMAGE } from '../../test/e2e/support/images.js';
import { median, podStartOnce, type Workload } from './cri.js';

interface Variant {
  handler: string;
  workload: Workload;
  /** untimed preparation before each sample */
  before?: () => void;
}

export async function benchPods(rounds = Number(process.env.BENCH_PODS_ROUNDS ?? 8)): Promise<void> {
  // the runtime logs at info, as on a node by default (the e2e suite reads its debug lines)
  const f = await startFloxLab({ logLevel: 'info' });
  try {
    const hello: Workload = { image: EMPTY_IMAGE, command: ['hello'], annotations: { 'flox.dev/environment': 'public-owner/hello' } };
    const plain: Workload = { image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo ready'] };
    const coldState = () => {
      // an empty node: no store paths, no rendered profiles, no FloxHub cache
      for (const d of ['store', 'envs', 'floxhub', 'nix']) rmSync(join(f.stateDir, d), { recursive: true, force: true });
    };
    const variants: Record<string, Variant> = {
      'runc, busybox (baseline)': { handler: 'runc', workload: plain },
      'flox handler, no annotation': { handler: 'flox', workload: plain },
      'flox, warm environment': { handler: 'flox', workload: hello },
      'flox, cold environment': { handler: 'flox', workload: hello, before: coldState },
    };
    const names = Object.keys(variants);
    const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const coldBase: number[] = [];
    const cold: Array<{ bytes: number; paths: number; realiseMs: number; totalMs: number }> = [];
    // Two phases: a cold start empties the node's state dir and fetches again, and that churn
    // on the disk slows whatever pod comes next; so the cold starts take turns with runc only.
    const runPhase = async (group: string[], onSample: (name: string, ms: number) => void) => {
      for (let r = -1; r < rounds; r++) {
        for (let i = 0; i < group.length; i++) {
          const name = group[(i + Math.max(r, 0)) % group.length]!;
          const v = variants[name]!;
          v.before?.();
          const s = await podStartOnce(f.lab.kubelet, v.handler, v.workload, r);
          if (r < 0) continue; // warm-up round
          onSample(name, s.firstLineMs);
          if (v.before) {
            const a = f.activations().at(-1)!;
            cold.push({ bytes: a.bytesFetched, paths: a.pathsFetched, realiseMs: a.phasesMs.realise, totalMs: s.firstLineMs });
          }
        }
      }
    };
    const [runc, noAnnotation, warmName, coldName] = names as [string, string, string, string];
    await runPhase([runc, noAnnotation, warmName], (n, ms) => samples[n]!.push(ms));
    await runPhase([runc, coldName], (n, ms) => (n === runc ? coldBase : samples[n]!).push(ms));
    const base = median(samples[runc]!);
    console.log(`\n## pod start over CRI: RunPodSandbox -> first log line (${rounds} interleaved rounds)`);
    for (const n of names) {
      const m = median(samples[n]!);
      const b = n === coldName ? median(coldBase) : base;
      console.log(`  ${n.padEnd(30)} median ${m.toFixed(1).padStart(7)} ms   min ${Math.min(...samples[n]!).toFixed(1).padStart(7)}   ratio ${(m / b).toFixed(3)}x`);
    }
    console.log(`  (the cold starts ran in a phase of their own, against runc's ${median(coldBase).toFixed(1)} ms there)`);
    const warm = f.activations().filter((a) => a.rendered === 'cached' && a.pathsFetched === 0);
    const phase = (k: string) => median(warm.map((a) => a.phasesMs[k] ?? 0)).toFixed(0);
    const med = (k: string) => median(warm.map((a) => a[k] ?? 0)).toFixed(0);
    console.log(
      `  warm create in Node (median ms): node boot + module load ${med('bootMs')}, activation ${med('ms')}: FloxHub head check answered after ${phase('resolve')}` +
        ` (realise ${phase('realise')} + render ${phase('render')} of the cached generation ran meanwhile; ${phase('ready')} left after the answer), inject ${phase('inject')}`,
    );
    const c = cold[0];
    if (c) {
      const bytes = median(cold.map((x) => x.bytes));
      const realise = median(cold.map((x) => x.realiseMs));
      console.log(`  cold: ${c.paths} store paths, ${bytes} bytes fetched in ${realise} ms realise (${((bytes / 1024 / 1024) / (realise / 1000)).toFixed(1)} MiB/s over loopback)`);
    }
    console.log('  targets: no annotation <= 1.05x runc; warm <= 2x runc; cold bounded by the transfer');
  } finally {
    const problems = await f.stop();
    if (problems.length) console.log(`teardown problems: ${problems.join('; ')}`);
  }
}
