// runc's command line, as containerd's shim (go-runc) and CRI-O's conmon send it. We parse it
// only to learn what we need (subcommand, bundle, log, root, exec's process file) and always
// forward the original argv unchanged to the delegate.
import { FloxError } from '../errors.js';

export interface RuncGlobals {
  root?: string;
  log?: string;
  logFormat?: string;
  debug: boolean;
  systemdCgroup: boolean;
  rootless?: string;
  criu?: string;
}

export interface RuncInvocation {
  globals: RuncGlobals;
  /** First non-flag token: create, start, exec, ... ('' when there is none). */
  command: string;
  /** Tokens after the subcommand, unparsed. */
  commandArgs: string[];
  /** `--bundle/-b` of create/run, undefined when absent (runc then uses its cwd). */
  bundle?: string;
  /** The container id: the first positional argument after the subcommand. */
  id?: string;
  /** exec's `--process/-p FILE`. */
  processFile?: string;
  pidFile?: string;
  /** `-h`/`--help` where runc takes it as its help flag */
  help?: boolean;
  /** the first flag of create/run/exec that runc 1.1/1.2 does not define */
  unknownFlag?: string;
  /** a flag of create/run/exec that needs a value came last without one */
  missingValue?: string;
}

/** Global flags that take a value (runc main.go); booleans are listed separately. */
const GLOBAL_VALUE_FLAGS = new Set(['root', 'log', 'log-format', 'criu', 'rootless']);
const GLOBAL_BOOL_FLAGS = new Set(['debug', 'systemd-cgroup', 'help', 'h', 'version', 'v']);

/** Per-subcommand flags that take a value, so their value is not mistaken for the container id. */
const VALUE_FLAGS: Record<string, ReadonlySet<string>> = {
  create: new Set(['bundle', 'b', 'console-socket', 'pidfd-socket', 'pid-file', 'preserve-fds']),
  run: new Set(['bundle', 'b', 'console-socket', 'pidfd-socket', 'pid-file', 'preserve-fds']),
  exec: new Set([
    'console-socket', 'pidfd-socket', 'cwd', 'env', 'e', 'user', 'u', 'additional-gids', 'g',
    'process', 'p', 'pid-file', 'process-label', 'apparmor', 'cap', 'c', 'preserve-fds', 'cgroup',
  ]),
};

/** Per-subcommand boolean flags (runc create.go, run.go, exec.go), help included. */
const BOOL_FLAGS: Record<string, ReadonlySet<string>> = {
  create: new Set(['no-pivot', 'no-new-keyring', 'help', 'h']),
  run: new Set(['detach', 'd', 'keep', 'no-subreaper', 'no-pivot', 'no-new-keyring', 'help', 'h']),
  exec: new Set(['tty', 't', 'detach', 'd', 'no-new-privs', 'ignore-paused', 'help', 'h']),
};

interface Flag {
  name: string;
  inlineValue?: string;
}

/** `--name`, `-name`, `--name=value`; Go's flag packages accept one or two dashes. */
function splitFlag(token: string): Flag | undefined {
  if (!token.startsWith('-') || token === '-' || token === '--') return undefined;
  const body = token.replace(/^--?/, '');
  const eq = body.indexOf('=');
  return eq < 0 ? { name: body } : { name: body.slice(0, eq), inlineValue: body.slice(eq + 1) };
}

function takeValue(argv: readonly string[], i: number, flag: Flag): { value: string; next: number } {
  if (flag.inlineValue !== undefined) return { value: flag.inlineValue, next: i + 1 };
  const value = argv[i + 1];
  if (value === undefined) throw new FloxError('usage', `flag --${flag.name} needs a value`);
  return { value, next: i + 2 };
}

export function parseRuncArgv(argv: readonly string[]): RuncInvocation {
  const globals: RuncGlobals = { debug: false, systemdCgroup: false };
  let i = 0;
  while (i < argv.length) {
    const token = argv[i]!;
    if (token === '--') {
      i++;
      break;
    }
    const flag = splitFlag(token);
    if (!flag) break;
    if (GLOBAL_VALUE_FLAGS.has(flag.name)) {
      if (flag.inlineValue === undefined && argv[i + 1] === undefined) {
        // runc refuses it in its own words ("flag needs an argument"); no command to prepare
        return { globals, command: '', commandArgs: [], missingValue: flag.name };
      }
      const { value, next } = takeValue(argv, i, flag);
      if (flag.name === 'root') globals.root = value;
      else if (flag.name === 'log') globals.log = value;
      else if (flag.name === 'log-format') globals.logFormat = value;
      else if (flag.name === 'criu') globals.criu = value;
      else globals.rootless = value;
      i = next;
    } else {
      if (flag.name === 'debug') globals.debug = flag.inlineValue !== 'false';
      else if (flag.name === 'systemd-cgroup') globals.systemdCgroup = flag.inlineValue !== 'false';
      else if (!GLOBAL_BOOL_FLAGS.has(flag.name)) {
        // unknown global flag: keep scanning; the delegate will judge it
      }
      i++;
    }
  }
  const command = argv[i] ?? '';
  const commandArgs = argv.slice(i + 1);
  const inv: RuncInvocation = { globals, command, commandArgs };
  parseCommandArgs(inv, commandArgs);
  return inv;
}

function parseCommandArgs(inv: RuncInvocation, args: readonly string[]): void {
  const valueFlags = VALUE_FLAGS[inv.command] ?? new Set<string>();
  const boolFlags = BOOL_FLAGS[inv.command];
  let i = 0;
  while (i < args.length) {
    const token = args[i]!;
    if (token === '--') {
      if (inv.id === undefined && args[i + 1] !== undefined) inv.id = args[i + 1];
      return;
    }
    const flag = splitFlag(token);
    if (!flag) {
      // first positional is the container id; for exec the rest is the command
      if (inv.id === undefined) inv.id = token;
      if (inv.command === 'exec') return;
      i++;
      continue;
    }
    if (!valueFlags.has(flag.name)) {
      if (flag.name === 'help' || flag.name === 'h') inv.help = true;
      else if (boolFlags && !boolFlags.has(flag.name)) inv.unknownFlag ??= flag.name;
      i++;
      continue;
    }
    if (flag.inlineValue === undefined && args[i + 1] === undefined) {
      inv.missingValue = flag.name; // runc says so itself
      return;
    }
    const { value, next } = takeValue(args, i, flag);
    if (flag.name === 'bundle' || flag.name === 'b') inv.bundle = value;
    else if (flag.name === 'process' || flag.name === 'p') inv.processFile = value;
    else if (flag.name === 'pid-file') inv.pidFile = value;
    i = next;
  }
}

/**
 * Why runc itself would refuse or only print help for this create/run/exec (then the argv goes
 * to the delegate untouched, for runc's own words and exit status), or undefined.
 */
export function runcUsageProblem(inv: RuncInvocation): 'help' | 'unknown-flag' | 'missing-value' | 'no-id' | undefined {
  if (!(inv.command in BOOL_FLAGS)) return undefined;
  if (inv.help) return 'help';
  if (inv.missingValue !== undefined) return 'missing-value';
  if (inv.unknownFlag !== undefined) return 'unknown-flag';
  if (inv.id === undefined) return 'no-id';
  return undefined;
}

/** runc resolves the bundle against its cwd; an empty `--bundle=` means the cwd too. */
export function bundleDir(inv: RuncInvocation, cwd: string): string {
  if (!inv.bundle) return cwd;
  return inv.bundle.startsWith('/') ? inv.bundle : `${cwd.replace(/\/+$/, '')}/${inv.bundle}`;
}

/** runc's own default state root when running as root. */
export const DEFAULT_RUNC_ROOT = '/run/runc';

/** runc container ids: letters, digits, `_ + - .` (libcontainer's idRegex); never a path. */
export function isValidContainerId(id: string): boolean {
  return /^[\w+.-]+$/.test(id) && id !== '.' && id !== '..';
}
