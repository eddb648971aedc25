// Shared plumbing of the operator commands: config loading (--config or FLOX_RUNTIME_CONFIG),
// --json output, and failures mapped to exit codes (1 failure, 2 usage).
import type { Command } from 'commander';
import { loadConfig, configPath } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { isFloxError } from '../../errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export interface ConfigOpts {
  config?: string;
}

export function withConfigOption(cmd: Command): Command {
  return cmd.option('--config <file>', 'config file (default: $FLOX_RUNTIME_CONFIG, else /etc/flox-runtime/config.toml)');
}

export function loadOperatorConfig(o: ConfigOpts): { config: Config; source: string } {
  const env = o.config ? { ...process.env, FLOX_RUNTIME_CONFIG: o.config } : process.env;
  const { path } = configPath(env);
  return { config: loadConfig(env), source: path };
}

export function writeOut(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}

export function printJson(v: unknown): void {
  writeOut(JSON.stringify(v, null, 2));
}

export function failWith(e: unknown, json: boolean): never {
  const msg = isFloxError(e) ? e.message : `internal error: ${(e as Error)?.stack ?? String(e)}`;
  if (json) writeOut(JSON.stringify({ error: msg, kind: isFloxError(e) ? e.kind : 'internal' }));
  process.stderr.write(`flox-runtime: ${msg}\n`);
  process.exit(isFloxError(e) && e.kind === 'usage' ? EXIT_USAGE : EXIT_FAILED);
}

/** Repeatable option collector (e.g. --root A --root B). */
export function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** Durations like 90s, 15m, 2h, 0. */
export function parseDuration(v: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new Error(`bad duration ${JSON.stringify(v)} (e.g. 0, 90s, 15m, 2h)`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 's']!;
  return n * unit;
}
