// A private containerd whose `flox` handler is the real bin/flox-runtime, configured against a
// local FloxHub (git smart HTTP) and a signed binary cache built by real Nix, all on 127.0.0.1.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestHub, type TestHub } from '../../support/hub.js';
import { startLab, type Lab } from './containerd.js';

export interface FloxLab {
  lab: Lab;
  hub: TestHub;
  work: string;
  stateDir: string;
  configPath: string;
  runtimeLog: string;
  /** The structured `activated` lines of the runtime's log, oldest first. */
  activations(): Array<Record<string, any>>;
  logLines(): Array<Record<string, any>>;
  stop(): Promise<string[]>;
}

export interface FloxLabOptions {
  compression?: string;
  extraConfig?: string;
  runtime?: Record<string, string>;
  /** the runtime's log level (default debug: e2e tests read the debug lines) */
  logLevel?: string;
  /** extra environment for containerd and so for the runtime (e.g. NODE_OPTIONS to profile it) */
  env?: Record<string, string>;
  /** the substituters to configure, once the hub (and its fixture) is up; default: the hub's cache */
  substituters?: (hub: TestHub) => Promise<string[]>;
}

export async function startFloxLab(opts: FloxLabOptions = {}): Promise<FloxLab> {
  const hub = await startTestHub();
  const work = mkdtempSync(join(tmpdir(), 'flox-e2e-state-'));
  const stateDir = join(work, 'state');
  const runtimeLog = join(work, 'runtime.log');
  const configPath = join(work, 'config.toml');
  const c = opts.compression ?? 'zstd';
  const runtimeExtra = Object.entries(opts.runtime ?? {}).map(([k, v]) => `${k} = ${v}\n`).join('');
  const substituters = opts.substituters ? await opts.substituters(hub) : [`${hub.url}/cache-${c}`];
  writeFileSync(
    configPath,
    `[runtime]\ndelegate = ["runc"]\nstate-dir = "${stateDir}"\nshell-store-path = "${hub.nix.packages.busybox!.out}"\n${runtimeExtra}` +
      `[floxhub]\nurl = "${hub.url}"\ngit-url = "${hub.gitUrl}"\ntimeout-ms = 5000\n` +
      `[nix]\nsubstituters = ${JSON.stringify(substituters)}\ntrusted-public-keys = ["${hub.nix.publicKey}"]\ntimeout-ms = 10000\n` +
      `[log]\nfile = "${runtimeLog}"\nlevel = "${opts.logLevel ?? 'debug'}"\n${opts.extraConfig ?? ''}`,
  );
  const lab = await startLab({ env: { ...opts.env, FLOX_RUNTIME_CONFIG: configPath } });
  const logLines = () =>
    existsSync(runtimeLog)
      ? readFileSync(runtimeLog, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, any>)
      : [];
  return {
    lab,
    hub,
    work,
    stateDir,
    configPath,
    runtimeLog,
    logLines,
    activations: () => logLines().filter((l) => l.msg === 'activated'),
    stop: async () => {
      const report = await lab.stop();
      await hub.close();
      rmSync(work, { recursive: true, force: true });
      return report.problems;
    },
  };
}
