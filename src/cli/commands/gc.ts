// `flox-runtime gc`: remove rendered environments and store paths nothing needs (src/ops/gc.ts).
import type { Command } from 'commander';
import { FloxError } from '../../errors.js';
import { formatBytes, table } from '../../ops/format.js';
import { type GcResult, runGc } from '../../ops/gc.js';
import { KNOWN_RUNC_ROOTS } from '../../ops/running.js';
import { type ConfigOpts, collect, failWith, loadOperatorConfig, parseDuration, printJson, withConfigOption, writeOut } from './common.js';

interface GcOpts extends ConfigOpts {
  root?: string[];
  keepGenerations?: string;
  maxBytes?: string;
  grace: string;
  dryRun?: boolean;
  force?: boolean;
  lockTimeout?: string;
  json?: boolean;
}

export function formatGc(r: GcResult): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const lines: string[] = [];
  if (r.removeEnvs.length) {
    lines.push(`${r.dryRun ? 'would remove' : 'removed'} ${r.removeEnvs.length} rendered environment(s):`);
    lines.push(table(['ENVIRONMENT', 'GEN', 'MODE', 'WHY', 'KEY'], r.removeEnvs.map((e) => [e.environment, String(e.generation), e.mode, e.reason, e.key])));
  }
  if (r.keepEnvs.length) {
    lines.push(`kept ${r.keepEnvs.length} rendered environment(s):`);
    lines.push(table(['ENVIRONMENT', 'GEN', 'MODE', 'WHY'], r.keepEnvs.map((e) => [e.environment, String(e.generation), e.mode, e.reason])));
  }
  if (r.dryRun) for (const p of r.removePaths) lines.push(`would remove /nix/store/${p.basename} (${formatBytes(p.bytes)})`);
  const removed = r.removePaths.length - r.busyPaths.length;
  lines.push(
    `${verb} ${removed} store path(s), ${formatBytes(r.dryRun ? r.bytesBefore - r.bytesAfter : r.freedBytes)}; kept ${r.keptPaths} (${formatBytes(r.bytesAfter)}); ${r.containers} container(s) checked`,
  );
  if (r.dropUsers.length && !r.dryRun) lines.push(`forgot ${new Set(r.dropUsers.map((d) => d.user)).size} removed generation(s) in the metadata of kept paths`);
  if (r.hubCommitsRemoved) lines.push(`removed ${r.hubCommitsRemoved} cached FloxHub commit${r.hubCommitsRemoved === 1 ? '' : 's'} no generation points at any more`);
  if (r.tmpRemoved) lines.push(`removed ${r.tmpRemoved} leftover temporary entr${r.tmpRemoved === 1 ? 'y' : 'ies'} of interrupted renders/downloads`);
  if (r.busyPaths.length) lines.push(`${r.busyPaths.length} path(s) locked by another process: left for the next gc`);
  if (r.overLimit) lines.push('still above gc.max-bytes: everything left is in use, recent or its newest generations');
  return lines.join('\n');
}

function nonNegativeInt(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new FloxError('usage', `${name} must be a non-negative integer, not ${JSON.stringify(v)}`);
  return Number(v);
}

export function registerGcCommands(program: Command): void {
  withConfigOption(
    program
      .command('gc')
      .description('remove rendered environments and store paths that no container and no kept generation uses')
      .option('--root <dir>', `runc root to scan for containers (repeatable; default: those of ${KNOWN_RUNC_ROOTS.join(', ')} that exist)`, collect)
      .option('--keep-generations <n>', 'newest generations kept per environment (default: config gc.keep-generations)')
      .option('--max-bytes <n>', 'then remove least recently used until the store is under n bytes (default: config gc.max-bytes; 0 = no limit)')
      .option('--grace <duration>', 'keep what was used or fetched this recently (a pod being created has no runc state yet)', '10m')
      .option('--dry-run', 'list what would be removed, remove nothing')
      .option('--force', 'proceed although some container could not be read')
      .option('--lock-timeout <duration>', 'give up (exit 1) when pod starts keep the gc lock busy this long (default: wait)')
      .option('--json', 'machine-readable output'),
  ).action(async (o: GcOpts) => {
    const json = !!o.json;
    try {
      let graceMs: number;
      try {
        graceMs = parseDuration(o.grace);
      } catch (e) {
        throw new FloxError('usage', `--grace: ${(e as Error).message}`);
      }
      let lockTimeoutMs: number | undefined;
      try {
        lockTimeoutMs = o.lockTimeout === undefined ? undefined : parseDuration(o.lockTimeout);
      } catch (e) {
        throw new FloxError('usage', `--lock-timeout: ${(e as Error).message}`);
      }
      const keep = nonNegativeInt('--keep-generations', o.keepGenerations, -1);
      const max = nonNegativeInt('--max-bytes', o.maxBytes, -1);
      const { config } = loadOperatorConfig(o);
      if (config.runtime.storeMode === 'nix') throw new FloxError('usage', 'runtime.store-mode = "nix": the host Nix owns the store; use nix-collect-garbage');
      const r = await runGc({
        stateDir: config.runtime.stateDir,
        ...(o.root?.length && { runcRoots: o.root }),
        keepGenerations: keep >= 0 ? keep : config.gc.keepGenerations,
        maxBytes: max >= 0 ? max : config.gc.maxBytes,
        graceMs,
        dryRun: !!o.dryRun,
        force: !!o.force,
        ...(lockTimeoutMs !== undefined && { lockTimeoutMs }),
      });
      if (json) printJson(r);
      else writeOut(formatGc(r));
    } catch (e) {
      failWith(e, json);
    }
  });
}
