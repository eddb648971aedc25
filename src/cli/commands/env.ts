// `flox-runtime env pull owner/name[:N]` and `env ls`: environments on this node.
import type { Command } from 'commander';
import { FloxError } from '../../errors.js';
import { readTokenFile } from '../../floxhub/index.js';
import { createLogger } from '../../log/logger.js';
import { parseEnvironmentRef } from '../../pod/environment-ref.js';
import { formatBytes, formatMs } from '../../ops/format.js';
import { readInventory } from '../../ops/inventory.js';
import { formatListing, listEnvironments } from '../../ops/ls.js';
import { foldProgress, initialProgress, progressBar, progressLine } from '../../ops/progress.js';
import { pullEnvironment } from '../../ops/pull.js';
import { type ConfigOpts, failWith, loadOperatorConfig, printJson, withConfigOption, writeOut } from './common.js';

interface PullOpts extends ConfigOpts {
  mode: string;
  tokenFile?: string;
  json?: boolean;
}

async function pull(refText: string, o: PullOpts): Promise<void> {
  const json = !!o.json;
  try {
    if (o.mode !== 'run' && o.mode !== 'dev') throw new FloxError('usage', `--mode must be run or dev, not ${JSON.stringify(o.mode)}`);
    let ref;
    try {
      ref = parseEnvironmentRef(refText, 'environment');
    } catch (e) {
      throw new FloxError('usage', (e as Error).message);
    }
    const { config } = loadOperatorConfig(o);
    const tokenFile = o.tokenFile ?? (config.floxhub.tokenFile || undefined);
    if (o.tokenFile && readTokenFile(o.tokenFile) === undefined) throw new FloxError('usage', `--token-file ${o.tokenFile} is missing or empty`);
    const token = readTokenFile(tokenFile);
    const log = createLogger({ file: config.log.file, level: config.log.level, fields: { pid: process.pid, command: 'env pull' } });
    const tty = !json && process.stdout.isTTY === true;
    let state = initialProgress(Date.now());
    let lastDraw = 0;
    const draw = (force = false) => {
      const now = Date.now();
      if (!force && now - lastDraw < 100) return;
      lastDraw = now;
      process.stdout.write(`\r\x1b[2K${progressBar(state, now, Math.max(10, Math.min(40, (process.stdout.columns ?? 80) - 50)))}`);
    };
    const r = await pullEnvironment({
      config,
      ref,
      mode: o.mode,
      ...(token !== undefined && { token }),
      log,
      onPhase: (phase, detail) => {
        if (json) return;
        if (tty && phase === 'render') {
          draw(true); // the final state, then leave the bar's line
          process.stdout.write('\n');
        }
        writeOut(phase === 'resolve' ? `resolving ${refText} on ${config.floxhub.gitUrl}` : `${phase === 'realise' ? 'realising' : 'rendering'} ${detail} (${o.mode})`);
      },
      onEvent: (e) => {
        if (json) return;
        state = foldProgress(state, e);
        if (tty) draw(e.type === 'closure');
        else {
          const line = progressLine(state, e, Date.now());
          if (line) writeOut(line);
        }
      },
    });
    if (json) return printJson(r);
    writeOut(
      `pulled ${r.environment}:${r.generation} (${r.mode}): ${r.paths} paths, ${r.pathsFetched} fetched (${formatBytes(r.bytesFetched)}), profile ${r.rendered} at ${r.hostDir}, ${formatMs(r.ms)}`,
    );
  } catch (e) {
    failWith(e, json);
  }
}

export function registerEnvCommands(program: Command): void {
  const env = program.command('env').description('Flox environments on this node');
  withConfigOption(
    env
      .command('pull')
      .description('resolve, realise and render an environment on this node ahead of time')
      .argument('<environment>', 'owner/name (live generation) or owner/name:N')
      .option('--mode <mode>', 'profile to render: run|dev', 'run')
      .option('--token-file <file>', 'FloxHub token (default: config floxhub.token-file)')
      .option('--json', 'print the result as JSON (no progress)'),
  ).action(pull);
  withConfigOption(env.command('ls').description('environments and generations on this node, sizes and last use').option('--json', 'machine-readable output')).action(
    (o: ConfigOpts & { json?: boolean }) => {
      try {
        const { config } = loadOperatorConfig(o);
        const rows = listEnvironments(readInventory(config.runtime.stateDir));
        if (o.json) printJson(rows);
        else writeOut(formatListing(rows, Date.now()));
      } catch (e) {
        failWith(e, !!o.json);
      }
    },
  );
}
