// The soak in its short CI mode (SOAK_CI_SECONDS, default 75 s): pods of four hub environments
// started and stopped through CRI at a steady rate, new generations of one pushed meanwhile,
// with `flox-runtime gc` in the background.
// No start may fail, containerd's open fds and the state dir's size must not keep growing.
// The long run: `SOAK_SECONDS=600 node scripts/soak.mjs`.
import { expect, it } from 'vitest';
import { e2eGate } from '../e2e/support/gate.js';
import { formatSoak, runSoak } from './soak.js';

const gate = e2eGate('soak over CRI');
const SECONDS = Number(process.env.SOAK_CI_SECONDS ?? 75);

it.skipIf(gate.skip)(
  `${gate.title}: ${SECONDS} s of pod starts and stops with gc, zero errors, bounded fds and disk`,
  async () => {
    const r = await runSoak({ seconds: SECONDS, maxPods: 400, gcEverySeconds: 8, pushEverySeconds: 12, log: (l) => console.log(l) });
    console.log(formatSoak(r));
    expect(r.errors).toEqual([]);
    expect(r.pods).toBeGreaterThanOrEqual(Math.min(20, SECONDS / 4));
    expect(r.latencyMs.n).toBe(r.pods);
    if (r.gc.available) expect(r.gc.failures).toEqual([]);
    if (r.gc.available) expect(r.gc.runs).toBeGreaterThan(0);
    expect(r.pushes).toBeGreaterThan(2);
    // containerd keeps no fd per finished pod: the last third stays near the first
    expect(r.trend.fdsLast).toBeLessThanOrEqual(r.trend.fdsFirst + 15);
    // four environments' closures and renders: bounded (the fixture closures are a few MB each)
    expect(r.trend.bytesMax).toBeLessThan(64e6);
    expect(r.trend.bytesLast).toBeLessThanOrEqual(r.trend.bytesMax);
  },
  (SECONDS + 240) * 1000,
);
