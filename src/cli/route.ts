// Which program answers an argv: the OCI path (runc's commands: prepared by us where they
// concern a Flox environment, then answered by the delegate) or the operator CLI. The same
// split as bin/flox-runtime's dispatch; test/unit/cli/route.test.ts holds the two together.
import { parseRuncArgv } from '../oci/argv.js';

/** The operator commands; bin/flox-runtime's `is_operator` lists the same words. */
export const OPERATOR_COMMANDS: readonly string[] = ['install', 'uninstall', 'env', 'explain', 'doctor', 'gc', 'version'];

const TOP_LEVEL_FLAGS = new Set(['-h', '-help', '--help', '-v', '-version', '--version']);

export function route(argv: readonly string[]): 'oci' | 'operator' {
  let command = '';
  let commandArgs: readonly string[] = [];
  try {
    ({ command, commandArgs } = parseRuncArgv(argv));
  } catch {
    return 'oci'; // malformed runc argv: the OCI path reports it properly
  }
  if (OPERATOR_COMMANDS.includes(command)) return 'operator';
  if (command === '') return argv.length === 0 || argv.some((a) => TOP_LEVEL_FLAGS.has(a)) ? 'operator' : 'oci';
  if (command === 'help' || command === 'h') {
    const topic = commandArgs[0];
    return topic === undefined || OPERATOR_COMMANDS.includes(topic) ? 'operator' : 'oci';
  }
  return 'oci';
}
