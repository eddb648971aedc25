#!/usr/bin/env node
// Soak over CRI (root): pods of several local-hub environments started and stopped at a steady
// rate in a private containerd whose flox handler is bin/flox-runtime, with `flox-runtime gc` in
// the background. Bounded; stops by itself; prints p50/p99 start latency, errors, containerd's
// open fds and the state dir's disk usage over time. Exit 1 on any error.
//
//   SOAK_SECONDS=600 node scripts/soak.mjs [--json]
//   env: SOAK_SECONDS (default 90), SOAK_MAX_PODS (default 5000), SOAK_INTERVAL_MS (700),
//        SOAK_IN_FLIGHT (3), SOAK_GC_SECONDS (10; 0 = no gc),
//        SOAK_PUSH_SECONDS (15: a new generation of public-owner/hello; 0 = none)
import { importTs } from './e2e/load-ts.mjs';

const json = process.argv.includes('--json');
const { runSoak, formatSoak } = await importTs('test/soak/soak.ts');
const num = (k, d) => (process.env[k] ? Number(process.env[k]) : d);
const r = await runSoak({
  seconds: num('SOAK_SECONDS', 90),
  maxPods: num('SOAK_MAX_PODS', 5000),
  intervalMs: num('SOAK_INTERVAL_MS', 700),
  maxInFlight: num('SOAK_IN_FLIGHT', 3),
  gcEverySeconds: num('SOAK_GC_SECONDS', 10),
  pushEverySeconds: num('SOAK_PUSH_SECONDS', 15),
  log: json ? () => {} : (l) => console.log(l),
});
console.log(json ? JSON.stringify(r, null, 2) : formatSoak(r));
process.exit(r.errors.length || r.gc.failures.length ? 1 : 0);
