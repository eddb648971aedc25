// Operator and engineer commands (commander). Human output by default, --json for scripts.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerDoctorCommands } from './commands/doctor.js';
import { registerEnvCommands } from './commands/env.js';
import { registerExplainCommands } from './commands/explain.js';
import { registerGcCommands } from './commands/gc.js';
import { registerInstallCommands } from './commands/install.js';
import { askDelegate, formatTopLevelHelp, parseRuncCommands, RUNC_COMMANDS_FALLBACK } from './help.js';
import { loadConfig } from '../config/load.js';
import { findDelegate } from '../oci/delegate.js';

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

/** The delegate the OCI path would run, or undefined (help and version still print without one). */
function delegateOrNone(): string | undefined {
  try {
    return findDelegate(loadConfig().runtime.delegate, process.env.PATH);
  } catch {
    return undefined;
  }
}

const HELP_FLAGS = new Set(['-h', '-help', '--help']);
const VERSION_FLAGS = new Set(['-v', '-version', '--version']);

/** `flox-runtime`, `--help`, `help`, `help <operator command>`, `--version`: ours; else undefined. */
function topLevel(program: Command, argv: string[]): string | undefined {
  const first = argv[0];
  if (first !== undefined && VERSION_FLAGS.has(first)) {
    const runc = askDelegate(delegateOrNone(), ['--version']);
    return `flox-runtime version ${packageVersion()}\n${runc ?? 'delegate: none found (install runc or set runtime.delegate)\n'}`;
  }
  const helpWord = first === 'help' || first === 'h';
  if (helpWord && argv[1] !== undefined) {
    const cmd = program.commands.find((c) => c.name() === argv[1]);
    return cmd?.helpInformation();
  }
  if (first === undefined || HELP_FLAGS.has(first) || helpWord) {
    const delegate = delegateOrNone();
    const runcHelp = askDelegate(delegate, ['--help']);
    const runcCommands = runcHelp ? parseRuncCommands(runcHelp) : [];
    return formatTopLevelHelp({
      version: packageVersion(),
      operatorCommands: program.commands.map((c) => ({ name: c.name(), description: c.description() })),
      ...(delegate && { delegate }),
      runcCommands: runcCommands.length > 0 ? runcCommands : RUNC_COMMANDS_FALLBACK,
    });
  }
  return undefined;
}

export async function runOperator(argv: string[]): Promise<void> {
  const program = buildProgram();
  const text = topLevel(program, argv);
  if (text !== undefined) {
    process.stdout.write(text);
    return;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    if (typeof code === 'number') process.exit(code === 0 ? 0 : EXIT.usage);
    process.stderr.write(`flox-runtime: ${(e as Error).message}\n`);
    process.exit(EXIT.failed);
  }
}
