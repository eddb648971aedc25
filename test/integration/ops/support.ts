// A node for the operator commands: the local hub (real floxmeta + signed Nix caches), a fresh
// state dir and a config.toml pointing at both, and a runner for the built CLI binary.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { startTestHub, type TestHub } from '../../support/hub.js';
import { DIST } from '../../support/paths.js';

export interface OpsLab {
  hub: TestHub;
  work: string;
  stateDir: string;
  configPath: string;
  logFile: string;
  /** writes another config (same hub) with extra TOML appended or sections replaced */
  writeConfig(name: string, o?: { stateDir?: string; gitUrl?: string; substituters?: string[]; extra?: string }): string;
  cli(args: string[], o?: { config?: string; env?: Record<string, string> }): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  stop(): Promise<void>;
}

export async function startOpsLab(): Promise<OpsLab> {
  const hub = await startTestHub();
  const work = mkdtempSync(join(tmpdir(), 'ops-'));
  const stateDir = join(work, 'state');
  const logFile = join(work, 'runtime.log');
  const writeConfig: OpsLab['writeConfig'] = (name, o = {}) => {
    const p = join(work, `${name}.toml`);
    const subs = o.substituters ?? [`${hub.url}/cache-zstd`];
    writeFileSync(
      p,
      `[runtime]\ndelegate = ["runc", "/bin/true"]\nstate-dir = "${o.stateDir ?? stateDir}"\nsystem = "x86_64-linux"\nshell-store-path = "${hub.nix.packages.busybox!.out}"\n` +
        `[floxhub]\nurl = "${hub.url}"\ngit-url = "${o.gitUrl ?? hub.gitUrl}"\ntimeout-ms = 5000\n` +
        `[nix]\nsubstituters = [${subs.map((s) => JSON.stringify(s)).join(', ')}]\ntrusted-public-keys = ["${hub.nix.publicKey}"]\ntimeout-ms = 10000\n` +
        `[log]\nfile = "${logFile}"\nlevel = "debug"\n${o.extra ?? ''}`,
    );
    return p;
  };
  const configPath = writeConfig('config');
  return {
    hub,
    work,
    stateDir,
    configPath,
    logFile,
    writeConfig,
    cli: async (args, o = {}) => {
      const r = await execa(process.execPath, [DIST, ...args], {
        reject: false,
        env: { FLOX_RUNTIME_CONFIG: o.config ?? configPath, ...o.env },
        timeout: 90_000,
      });
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
    },
    stop: async () => {
      await hub.close();
      rmSync(work, { recursive: true, force: true });
    },
  };
}
