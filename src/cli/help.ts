// The top-level help and version of flox-runtime. runc answers everything else about its own
// commands (bin/flox-runtime execs it for `<command> -h`, `help <runc command>` and unknown
// words); here we add what runc cannot know: the operator commands, and that every runc command
// is accepted. The first two lines keep runc's shape (`NAME:`, then `<name> - … runc - Open
// Container Initiative runtime`), which runc's own test suite (tests/integration/help.bats)
// checks of `runc -h` when it is run against a wrapper.
import { spawnSync } from 'node:child_process';

export interface CommandLine {
  name: string;
  description: string;
}

export interface HelpInput {
  version: string;
  operatorCommands: readonly CommandLine[];
  /** the delegate's path, or undefined when none is installed */
  delegate?: string;
  /** runc's commands as its own help lists them */
  runcCommands: readonly CommandLine[];
}

/** runc 1.1's commands, for when no delegate is there to ask. */
export const RUNC_COMMANDS_FALLBACK: readonly CommandLine[] = [
  'checkpoint', 'create', 'delete', 'events', 'exec', 'kill', 'list', 'pause', 'ps', 'restore',
  'resume', 'run', 'spec', 'start', 'state', 'update', 'features',
].map((name) => ({ name, description: '' }));

function table(rows: readonly CommandLine[]): string[] {
  const width = Math.max(0, ...rows.map((r) => r.name.length)) + 3;
  return rows.map((r) => `   ${r.name.padEnd(width)}${r.description}`.trimEnd());
}

export function formatTopLevelHelp(h: HelpInput): string {
  const delegate = h.delegate ?? 'runc (not found: install runc or set runtime.delegate)';
  return [
    'NAME:',
    '   flox-runtime - Flox environments in containers, around runc - Open Container Initiative runtime',
    '',
    'USAGE:',
    '   flox-runtime [global options] command [command options] [arguments...]',
    '',
    'VERSION:',
    `   ${h.version}`,
    '',
    'DESCRIPTION:',
    "   containerd's `flox` runtime handler (the runc shim's BinaryName), CRI-O's runtime_path and",
    "   podman's --runtime. A container whose config.json names flox.dev/environment runs inside that",
    '   Flox environment; every other container, and every runc command, goes to the delegate',
    `   runtime unchanged: ${delegate}.`,
    '',
    'OPERATOR COMMANDS:',
    ...table([...h.operatorCommands, { name: 'help', description: 'this help; `help <command>` for one command' }]),
    '',
    'RUNC COMMANDS:',
    '   Every runc command is accepted, with runc\'s flags, and answered by the delegate;',
    '   `flox-runtime <command> -h` prints runc\'s own help for it.',
    ...table(h.runcCommands.filter((c) => c.name !== 'help')),
    '',
    'GLOBAL OPTIONS:',
    "   runc's: --debug, --log value, --log-format value, --root value, --criu value,",
    '           --systemd-cgroup, --rootless value',
    '   --help, -h       show help',
    '   --version, -v    print the version of flox-runtime and of the delegate',
    '',
  ].join('\n');
}

/** The COMMANDS section of a urfave/cli help text (runc's), one command a line. */
export function parseRuncCommands(helpText: string): CommandLine[] {
  const lines = helpText.split('\n');
  const start = lines.findIndex((l) => l.trim() === 'COMMANDS:');
  if (start < 0) return [];
  const out: CommandLine[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!/^\s/.test(line) || line.trim() === '') break;
    const m = /^\s+([a-z][\w-]*)(?:,\s*[\w-]+)*\s{2,}(.*)$/.exec(line);
    if (m) out.push({ name: m[1]!, description: m[2]!.trim() });
  }
  return out;
}

/** What the delegate prints for `args` (its help or version), or undefined when it cannot run. */
export function askDelegate(delegate: string | undefined, args: readonly string[]): string | undefined {
  if (!delegate) return undefined;
  const r = spawnSync(delegate, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  return r.status === 0 && typeof r.stdout === 'string' ? r.stdout : undefined;
}
