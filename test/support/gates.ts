// Suites that need root or system packages skip loudly on a developer machine without them,
// and fail in CI (CI=true), where .ci/run installs everything.
import { execFileSync } from 'node:child_process';

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Returns a skip reason, or undefined when the suite can run. Throws in CI. */
export function requireSystem(what: { root?: boolean; commands?: string[] }): string | undefined {
  const missing: string[] = [];
  if (what.root && process.getuid?.() !== 0) missing.push('root');
  for (const c of what.commands ?? []) if (!hasCommand(c)) missing.push(c);
  if (missing.length === 0) return undefined;
  const reason = `needs ${missing.join(', ')}`;
  if (process.env.CI === 'true') throw new Error(`CI must run this suite, but it ${reason}`);
  console.warn(`SKIPPED (${reason})`);
  return reason;
}
