// Operator and engineer commands (commander). Human output by default, --json for scripts.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerDoctorCommands } from './commands/doctor.js';
import { registerEnvCommands } from './commands/env.js';
import { registerExplainCommands } from './commands/explain.js';
import { registerGcCommands } from './commands/gc.js';
import { registerInstallCommands } from './commands/install.js';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

function packageVersion(): string {
  // replaced at build time; falls back to package.json when run from source
  return typeof __FLOX_RUNTIME_VERSION__ === 'string'
    ? __FLOX_RUNTIME_VERSION__
    : (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

declare const __FLOX_RUNTIME_VERSION__: string | undefined;

export function buildProgram(): Command {
  const program = new Command('flox-runtime')
    .description('Imageless Kubernetes: run containers inside Flox environments (OCI runtime wrapper around runc)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program
    .command('version')
    .description('print the flox-runtime version')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const v = packageVersion();
      process.stdout.write(opts.json ? `${JSON.stringify({ version: v })}\n` : `flox-runtime ${v}\n`);
    });
  registerInstallCommands(program);
  registerEnvCommands(program);
  registerExplainCommands(program);
  registerDoctorCommands(program);
  registerGcCommands(program);
  return program;
}

export async function runOperator(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    if (typeof code === 'number') process.exit(code === 0 ? 0 : EXIT.usage);
    process.stderr.write(`flox-runtime: ${(e as Error).message}\n`);
    process.exit(EXIT.failed);
  }
}
