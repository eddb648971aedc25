// Runs a command the way a container would see an activated environment, without a container
// runtime: a private mount namespace (unshare) with a throwaway root that has the rendered tree
// read-only at /run/flox/env, the fixture store at /nix/store, /run/flox/state and /dev/null, and
// optionally the host's /usr (for bash), and the host's static busybox at /busybox (BUSYBOX) for
// environments without a shell. Root only; everything vanishes with the process.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = `set -e
root=$1; envdir=$2; store=$3; tools=$4; state=$5; shift 5
mkdir -p "$root/nix/store" "$root/run/flox/env" "$root/run/flox/state" "$root/run/flox/cache" "$root/tmp" "$root/work" "$root/dev"
: > "$root/dev/null"; mount --bind /dev/null "$root/dev/null"
: > "$root/busybox"; mount --bind /bin/busybox "$root/busybox"
mount --bind "$store" "$root/nix/store"
mount --bind "$envdir" "$root/run/flox/env"
mount -o remount,bind,ro "$root/run/flox/env"
if [ -n "$state" ]; then mount --bind "$state" "$root/run/flox/state"; fi
if [ "$tools" = 1 ]; then
  for d in usr bin lib lib64 sbin; do
    if [ -L "/$d" ]; then ln -sfn "$(readlink "/$d")" "$root/$d"
    elif [ -d "/$d" ]; then mkdir -p "$root/$d"; mount --bind "/$d" "$root/$d"; fi
  done
fi
cd "$root"
exec chroot "$root" /busybox env -i "$@"
`;

/** the host's static busybox, inside the sandbox */
export const BUSYBOX = '/busybox';

export interface SandboxRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

export interface SandboxOptions {
  envDir: string;
  storeDir: string;
  /** bind the host's /usr, /lib... (gives bash); false: only the environment exists */
  hostTools: boolean;
  env: Record<string, string>;
  /** host dir mounted at /run/flox/state (to keep activated.env between runs); default a fresh one */
  stateDir?: string;
  argv: string[];
  /** called once the process runs (for signal tests) */
  onSpawn?: (pid: number, stdout: NodeJS.ReadableStream) => void;
  timeoutMs?: number;
}

export function runInSandbox(o: SandboxOptions): Promise<SandboxRun> {
  const root = mkdtempSync(join(tmpdir(), 'flox-sbx-'));
  const envArgs = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', SCRIPT, 'sh', root, o.envDir, o.storeDir, o.hostTools ? '1' : '0', o.stateDir ?? '', ...envArgs, ...o.argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  o.onSpawn?.(child.pid!, child.stdout);
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 20_000);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      rmSync(root, { recursive: true, force: true });
      resolve({ code, signal, stdout, stderr, pid: child.pid! });
    });
  });
}

export function canSandbox(): boolean {
  return process.getuid?.() === 0;
}
