// `flox-runtime doctor`: node checks, each pass/warn/fail with a fix; exit 1 when any fails.
import type { Command } from 'commander';
import { FloxError } from '../../errors.js';
import type { RuntimeKind } from '../../install/types.js';
import { type CheckResult, doctorExitCode, fail, formatDoctor } from '../../ops/doctor.js';
import { runDoctor } from '../../ops/doctor-probes.js';
import { type ConfigOpts, failWith, loadOperatorConfig, printJson, withConfigOption, writeOut } from './common.js';

interface DoctorOpts extends ConfigOpts {
  hostRoot: string;
  runtime: string;
  containerdConfig?: string;
  timeout: string;
  cri: boolean;
  json?: boolean;
}

const RUNTIMES = ['containerd', 'k3s', 'rke2', 'crio', 'auto'];

export function registerDoctorCommands(program: Command): void {
  withConfigOption(
    program
      .command('doctor')
      .description('check this node: delegate, CRI handler config, state dir, FloxHub, substituters, clock, disk')
      .option('--host-root <dir>', "where the host's / is mounted", '/')
      .option('--runtime <kind>', 'containerd|k3s|rke2|crio|auto', 'auto')
      .option('--containerd-config <path>', "containerd's main config (host path)")
      .option('--timeout <ms>', 'per network probe', '5000')
      .option('--no-cri', 'skip the container runtime config checks')
      .option('--json', 'machine-readable output'),
  ).action(async (o: DoctorOpts) => {
    const json = !!o.json;
    try {
      if (!RUNTIMES.includes(o.runtime)) throw new FloxError('usage', `--runtime must be one of ${RUNTIMES.join('|')}`);
      if (!/^\d+$/.test(o.timeout) || Number(o.timeout) < 1) throw new FloxError('usage', '--timeout must be a positive number of milliseconds');
      let results: CheckResult[];
      try {
        const { config, source } = loadOperatorConfig(o);
        results = await runDoctor({
          config,
          configSource: source,
          hostRoot: o.hostRoot,
          runtime: o.runtime as RuntimeKind | 'auto',
          ...(o.containerdConfig && { containerdConfig: o.containerdConfig }),
          timeoutMs: Number(o.timeout),
          skipCri: !o.cri,
        });
      } catch (e) {
        // a config that does not load is itself the finding
        results = [fail('config', (e as Error).message, 'fix the config file (see docs/cli.md and DESIGN.md "Config")')];
      }
      const code = doctorExitCode(results);
      if (json) printJson({ ok: code === 0, checks: results });
      else writeOut(formatDoctor(results));
      process.exitCode = code;
    } catch (e) {
      failWith(e, json);
    }
  });
}
