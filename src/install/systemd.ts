// Restarting the runtime through the host's systemd. containerd and CRI-O read their runtime
// handlers only at start (containerd has no reload), and their units use KillMode=process, so
// running shims and containers survive the restart.
import { FloxError } from '../errors.js';
import type { Exec } from './host-exec.js';
import type { RuntimeKind } from './types.js';

export const UNIT_CANDIDATES: Record<RuntimeKind, string[]> = {
  containerd: ['containerd'],
  k3s: ['k3s', 'k3s-agent'],
  rke2: ['rke2-server', 'rke2-agent'],
  crio: ['crio'],
};

export async function activeUnit(exec: Exec, kind: RuntimeKind): Promise<string | null> {
  for (const unit of UNIT_CANDIDATES[kind]) {
    const r = await exec(['systemctl', 'is-active', '--quiet', unit], { timeoutMs: 15_000 });
    if (r.exitCode === 0) return unit;
  }
  return null;
}

export async function restartUnit(exec: Exec, unit: string): Promise<void> {
  const reload = await exec(['systemctl', 'daemon-reload'], { timeoutMs: 60_000 });
  if (reload.exitCode !== 0) throw new FloxError('install', `systemctl daemon-reload failed: ${reload.stderr.trim()}`);
  const r = await exec(['systemctl', 'restart', unit], { timeoutMs: 300_000 });
  if (r.exitCode !== 0) {
    throw new FloxError(
      'install',
      `systemctl restart ${unit} failed (exit ${r.exitCode}): ${r.stderr.trim()}; see \`journalctl -u ${unit}\` on the node`,
    );
  }
}
