// Finding and running the delegate runtime (runc, crun). The child inherits fds 0-2 (never
// pipes: runc init would inherit a pipe and its parent would wait for EOF forever); we relay
// its exit status, and its fatal signal by dying of the same signal.
import { accessSync, constants, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { FloxError } from '../errors.js';

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first candidate that exists: absolute paths as they are, bare names on PATH. */
export function findDelegate(candidates: readonly string[], pathEnv: string = process.env.PATH ?? ''): string {
  for (const c of candidates) {
    if (c.includes('/')) {
      if (c.startsWith('/') && isExecutableFile(c)) return c;
      continue;
    }
    for (const dir of pathEnv.split(delimiter)) {
      // a relative PATH entry would make the delegate depend on the shim's cwd
      if (!dir.startsWith('/')) continue;
      const p = join(dir, c);
      if (isExecutableFile(p)) return p;
    }
  }
  throw new FloxError(
    'delegate',
    `no delegate runtime found (tried ${candidates.join(', ')} on PATH=${pathEnv}); install runc or set runtime.delegate in the config`,
  );
}

const RELAYED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export interface DelegateResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs the delegate with our argv; resolves when it exits. Signals we get are passed on. */
export function runDelegate(file: string, argv: readonly string[]): Promise<DelegateResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: 'inherit', argv0: file });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    for (const s of RELAYED_SIGNALS) process.on(s, forward);
    const done = () => {
      for (const s of RELAYED_SIGNALS) process.off(s, forward);
    };
    child.on('error', (e) => {
      done();
      reject(new FloxError('delegate', `cannot run ${file}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
    child.on('exit', (code, signal) => {
      done();
      resolve({ code, signal });
    });
  });
}

/** Exit the way the delegate did: same code, or the same fatal signal. */
export function exitLike(result: DelegateResult): never {
  if (result.signal) {
    process.removeAllListeners(result.signal);
    process.kill(process.pid, result.signal);
    // a signal that does not kill (ignored, or blocked) falls through to the shell convention
  }
  process.exit(result.code ?? 128 + signalNumber(result.signal));
}

function signalNumber(sig: NodeJS.Signals | null): number {
  const n = sig ? (osConstants.signals as Record<string, number>)[sig] : undefined;
  return n ?? 1;
}
