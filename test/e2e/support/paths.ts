// Locating the repository from any module of the harness, whether it runs from source under
// vitest or from an esbuild bundle written to <repo>/.cache (then import.meta.url moves).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'flox-runtime';

let cached: string | undefined;

/** The checkout root: the nearest ancestor with a package.json named flox-runtime. */
export function repoRoot(): string {
  if (cached !== undefined) return cached;
  const starts = [dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    let dir = start;
    for (;;) {
      const pkg = join(dir, 'package.json');
      if (existsSync(pkg)) {
        try {
          if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) {
            cached = dir;
            return dir;
          }
        } catch {
          // unreadable package.json: keep walking up
        }
      }
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  throw new Error(`cannot find the ${PACKAGE_NAME} checkout above ${starts.join(' or ')}`);
}

/** Files that ship beside the harness sources (cri.proto, pause.c). */
export function supportFile(name: string): string {
  return join(repoRoot(), 'test', 'e2e', 'support', name);
}

/** Default cache for built images; FLOX_E2E_CACHE overrides. <repo>/.cache is git-ignored. */
export function cacheDir(): string {
  return process.env.FLOX_E2E_CACHE ?? join(repoRoot(), '.cache', 'e2e');
}

/** The production wrapper, the default BinaryName of the `flox` handler. */
export function defaultFloxBinary(): string {
  return join(repoRoot(), 'bin', 'flox-runtime');
}

/** A minimal environment like systemd gives containerd (see cri.md P7). */
export const CLEAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Looks a command up on PATH (default: the clean PATH containerd will get). */
export function which(cmd: string, path: string = CLEAN_PATH): string | undefined {
  if (cmd.includes('/')) return existsSync(cmd) ? cmd : undefined;
  for (const d of path.split(':')) {
    if (d && existsSync(join(d, cmd))) return join(d, cmd);
  }
  return undefined;
}
