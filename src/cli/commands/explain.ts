// `flox-runtime explain <bundle-dir | container-id>`: what the runtime would do or did, read-only.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { FloxError } from '../../errors.js';
import { createLogger } from '../../log/logger.js';
import { findDelegate } from '../../oci/delegate.js';
import { explainBundle, explainContainer } from '../../ops/explain.js';
import { formatBundleExplanation, formatContainerExplanation } from '../../ops/explain-format.js';
import { DEFAULT_OPERATOR_RUNC_ROOT } from '../../ops/running.js';
import { type ConfigOpts, failWith, loadOperatorConfig, printJson, withConfigOption, writeOut } from './common.js';

interface ExplainOpts extends ConfigOpts {
  root: string;
  offline?: boolean;
  json?: boolean;
}

const isBundle = (p: string) => {
  try {
    return statSync(p).isDirectory() && existsSync(join(p, 'config.json'));
  } catch {
    return false;
  }
};

export function registerExplainCommands(program: Command): void {
  withConfigOption(
    program
      .command('explain')
      .description('what the runtime would do (bundle dir) or did (container id) to a container, and why; changes nothing')
      .argument('<target>', 'an OCI bundle directory (with config.json) or a container id')
      .option('--root <dir>', 'runc root holding the container', DEFAULT_OPERATOR_RUNC_ROOT)
      .option('--offline', 'bundle: resolve the generation from the node cache only (no FloxHub request)')
      .option('--json', 'machine-readable output'),
  ).action(async (target: string, o: ExplainOpts) => {
    const json = !!o.json;
    try {
      const { config } = loadOperatorConfig(o);
      if (target.includes('/') || isBundle(target)) {
        const bundle = resolve(target);
        if (!isBundle(bundle)) throw new FloxError('usage', `${target} is not a bundle directory with a config.json`);
        // explain logs nowhere: it is not an activation
        const x = await explainBundle({ bundle, config, log: createLogger({ file: '' }), offline: !!o.offline });
        if (json) printJson(x);
        else writeOut(formatBundleExplanation(x));
        if (x.error) process.exitCode = 1;
        return;
      }
      let delegate: string | undefined;
      try {
        delegate = findDelegate(config.runtime.delegate);
      } catch {
        delegate = undefined;
      }
      const x = await explainContainer({ id: target, root: o.root, logFile: config.log.file, stateDir: config.runtime.stateDir, ...(delegate && { delegate }) });
      if (json) printJson(x);
      else writeOut(formatContainerExplanation(x));
      if (!x.record && !x.activated && !x.bundle) process.exitCode = 1;
    } catch (e) {
      failWith(e, json);
    }
  });
}
