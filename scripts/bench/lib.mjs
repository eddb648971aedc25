// Shared helpers for the benchmarks: interleaved runs (machines here are noisy, so every
// comparison is against a baseline measured in the same run) and median/ratio reporting.
import { spawnSync } from 'node:child_process';

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** Runs each variant once per round, round-robin, with the order rotated every round. */
export async function interleave(variants, rounds, { warmup = 1 } = {}) {
  const names = Object.keys(variants);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = -warmup; r < rounds; r++) {
    const order = names.map((_, i) => names[(i + Math.max(r, 0)) % names.length]);
    for (const n of order) {
      const ms = await variants[n]();
      if (r >= 0) samples[n].push(ms);
    }
  }
  return samples;
}

export function report(title, samples, baseline, unit = 'ms') {
  const base = median(samples[baseline]);
  console.log(`\n## ${title}`);
  for (const [n, xs] of Object.entries(samples)) {
    const m = median(xs);
    const ratio = n === baseline ? '(baseline)' : `ratio ${(m / base).toFixed(3)}x`;
    console.log(`  ${n.padEnd(34)} median ${m.toFixed(1).padStart(8)} ${unit}  p90 ${percentile(xs, 90).toFixed(1).padStart(8)} ${unit}  n=${xs.length}  ${ratio}`);
  }
  return Object.fromEntries(Object.entries(samples).map(([n, xs]) => [n, { median: median(xs), ratio: median(xs) / base }]));
}

export function timeSync(file, args, opts = {}) {
  const t = process.hrtime.bigint();
  // never a pipe: a created container inherits our stdio and would hold it open
  const r = spawnSync(file, args, { stdio: 'ignore', ...opts });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${file} ${args.join(' ')} failed with status ${r.status}`);
  return ms;
}

export const isRoot = () => process.getuid?.() === 0;
