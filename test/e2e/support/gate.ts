// Whether an e2e suite may run here. Missing prerequisites skip it loudly; on CI (CI=true)
// they fail it instead, so a broken CI image cannot pass by skipping everything.
// vitest prints the reason in the suite title ("[SKIPPED: ...]") and as a process warning.
import { labUnavailableReason } from './containerd.js';

export interface Gate {
  skip: boolean;
  /** Suite title with the skip reason appended, so it shows in the test report. */
  title: string;
  reason?: string;
}

export function e2eGate(suite: string): Gate {
  // FLOX_E2E_SKIP=<why>: skip on purpose (quick local runs); not honoured on CI
  const asked = process.env.FLOX_E2E_SKIP ? `FLOX_E2E_SKIP=${process.env.FLOX_E2E_SKIP}` : undefined;
  const reason = labUnavailableReason() ?? asked;
  if (!reason) return { skip: false, title: suite };
  if (process.env.CI === 'true') throw new Error(`${suite}: e2e prerequisites missing on CI: ${reason}`);
  process.emitWarning(`${suite}: SKIPPED: ${reason}`, 'E2ESkip');
  return { skip: true, title: `${suite} [SKIPPED: ${reason}]`, reason };
}
