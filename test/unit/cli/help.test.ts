import { describe, expect, it } from 'vitest';
import { parseRuncCommands } from '../../../src/cli/help.js';
import { definesFlag } from '../../../src/oci/usage.js';

// an excerpt of runc 1.1.5's `runc --help` and `runc create --help`
const RUNC_HELP = `NAME:
   runc - Open Container Initiative runtime

COMMANDS:
   checkpoint  checkpoint a running container
   create      create a container
   help, h     Shows a list of commands or help for one command

GLOBAL OPTIONS:
   --debug             enable debug logging
`;
const CREATE_HELP = `OPTIONS:
   --bundle value, -b value  path to the root of the bundle directory, defaults to the current directory
   --console-socket value    path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
   --no-pivot                do not use pivot root to jail process inside rootfs.
`;

describe('the delegate\'s own help text', () => {
  it('parseRuncCommands reads the COMMANDS section, first names only', () => {
    expect(parseRuncCommands(RUNC_HELP)).toEqual([
      { name: 'checkpoint', description: 'checkpoint a running container' },
      { name: 'create', description: 'create a container' },
      { name: 'help', description: 'Shows a list of commands or help for one command' },
    ]);
  });

  it('definesFlag finds a flag by its whole name, and its alias', () => {
    expect(definesFlag(CREATE_HELP, 'bundle')).toBe(true);
    expect(definesFlag(CREATE_HELP, 'b')).toBe(true);
    expect(definesFlag(CREATE_HELP, 'no-pivot')).toBe(true);
    expect(definesFlag(CREATE_HELP, 'pivot')).toBe(false);
    expect(definesFlag(CREATE_HELP, 'console')).toBe(false);
    expect(definesFlag(CREATE_HELP, 'pidfd-socket')).toBe(false);
  });
});
