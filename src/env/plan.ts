// The activation plan: the environment variables the container process starts with, and whether
// a shell must run first. Flox's order (its activate script and flox-activations):
//   1. FLOX_ENV, FLOX_ENV_CACHE, FLOX_ENV_PROJECT, FLOX_ENV_DESCRIPTION; FLOX_ENV_DIRS; PATH/MANPATH fixes
//   2. the mode's profile.d (run: INFOPATH, XDG_DATA_DIRS; dev adds CPATH, LIBRARY_PATH, ...)
//   3. [vars]   4. package etc/profile.d (dev only)   5. hook.on-activate   6. exec the command
// Steps 1-2 are always computed here. When nothing after them needs a shell (no hook, no package
// profile scripts, [vars] with only plain references) steps 3-6 are computed here too and the
// command runs directly; otherwise the process starts with activate.d/activate, which does 3-6.
import type { Manifest } from '../floxhub/index.js';
import { ACTIVATE, ACTIVATED_ENV, ATTACH, CACHE_MOUNT, ENV_MOUNT, STATE_DIR, hookOf } from './scripts.js';
import { expandStatic } from './vars.js';
import { readTreeFacts, type TreeFacts } from './render.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ActivationPlan {
  /** the complete environment of the container process (the spec's env with Flox's on top) */
  env: Record<string, string>;
  /** true: process.args must be prefixed with wrapArgs (a shell runs activate.d/activate) */
  needsShell: boolean;
  envMountPath: typeof ENV_MOUNT;
  cacheMountPath: typeof CACHE_MOUNT;
  stateDir: typeof STATE_DIR;
  activatedEnvFile: typeof ACTIVATED_ENV;
  activateScript: typeof ACTIVATE;
  attachScript: typeof ATTACH;
  /** [] or [shell, activateScript]: put before the container's args */
  wrapArgs: string[];
  /** [] or [shell, attachScript]: put before an exec'd process's args */
  execWrapArgs: string[];
  mode: 'run' | 'dev';
  /** why a shell is needed (for the log) */
  shellReasons: string[];
  warnings: string[];
}

export interface PlanOptions {
  resolved: { manifest: Manifest; description: string; generation: number };
  mode: 'run' | 'dev';
  /** the spec's process.env, NAME=value entries */
  baseEnv: string[];
  /** the container's cwd: FLOX_ENV_PROJECT */
  cwd: string;
  /** the rendered tree on the host: its render.json says what the profile has (bin/sh, python3, ...) */
  hostDir?: string;
  /** or those facts directly (tests); default: nothing known, i.e. no sh, bash, python3... */
  facts?: TreeFacts;
  /** a POSIX sh inside the container to run the activation with when the environment has none */
  shellPath?: string;
}

export function parseEnvList(list: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of list) {
    const i = e.indexOf('=');
    if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
  }
  return env;
}

export function toEnvList(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

function prependUnique(front: string[], rest: string | undefined): string {
  const seen = new Set(front);
  const tail = (rest ?? '').split(':').filter((p) => p !== '' && !seen.has(p));
  return [...front, ...tail].join(':');
}

export function planActivation(opts: PlanOptions): ActivationPlan {
  const { manifest, description } = opts.resolved;
  const env = parseEnvList(opts.baseEnv);
  const facts: TreeFacts = opts.facts ?? (opts.hostDir ? readTreeFacts(opts.hostDir) : undefined) ?? { sh: false, bash: false, cmake: false, java: false, profileScripts: [] };
  const warnings: string[] = [];
  const F = ENV_MOUNT;

  // 1. Flox's own variables and path fixes (flox-activations set-env-dirs / fix-paths)
  env.FLOX_ENV = F;
  env.FLOX_ENV_CACHE = CACHE_MOUNT;
  env.FLOX_ENV_PROJECT = opts.cwd || '/';
  env.FLOX_ENV_DESCRIPTION = description;
  env.FLOX_PROMPT_ENVIRONMENTS = description;
  env.FLOX_ENV_DIRS = prependUnique([F], env.FLOX_ENV_DIRS);
  const dirs = env.FLOX_ENV_DIRS.split(':').filter(Boolean);
  env.PATH = prependUnique(dirs.map((d) => `${d}/bin`), env.PATH ?? DEFAULT_PATH);
  const man = dirs.map((d) => `${d}/share/man`);
  env.MANPATH = env.MANPATH ? prependUnique(man, env.MANPATH) : `${man.join(':')}:`;

  // 2. mode profile.d: 0100_common-run-mode-paths.sh (both modes), then dev-only ones
  const info = env.INFOPATH ?? '';
  env.INFOPATH = info === '' ? `${F}/share/info:` : info.endsWith(':') ? `${F}/share/info:${info}` : `${F}/share/info:${info}:`;
  env.XDG_DATA_DIRS = `${F}/share${env.XDG_DATA_DIRS ? `:${env.XDG_DATA_DIRS}` : ''}`;
  if (opts.mode === 'dev') {
    const pre = (name: string, v: string) => (env[name] = `${v}${env[name] ? `:${env[name]}` : ''}`);
    pre('CPATH', `${F}/include`);
    pre('LIBRARY_PATH', `${F}/lib`);
    pre('PKG_CONFIG_PATH', `${F}/share/pkgconfig`);
    env.PKG_CONFIG_PATH = `${F}/lib/pkgconfig:${env.PKG_CONFIG_PATH}`;
    pre('ACLOCAL_PATH', `${F}/share/aclocal`);
    // 0500_python.sh asks python3 for its version; the tree tells the same without running it
    const py = facts.pythonSitePackages;
    if (py && !`:${env.PYTHONPATH ?? ''}:`.includes(`:${F}/${py}:`)) env.PYTHONPATH = `${env.PYTHONPATH ? `${env.PYTHONPATH}:` : ''}${F}/${py}`;
    if (facts.cmake) env.CMAKE_PREFIX_PATH = F; // 0503_cmake.sh replaces, not prepends
    if (facts.java) env.JAVA_HOME = F;
  }

  // 3-5: can they be done here?
  const shellReasons: string[] = [];
  const hook = hookOf(manifest);
  if (hook) shellReasons.push('hook.on-activate');
  if (opts.mode === 'dev' && facts.profileScripts.length > 0) shellReasons.push('package profile scripts (etc/profile.d)');
  const staticEnv = { ...env };
  if (shellReasons.length === 0 && expandStatic(manifest.vars, staticEnv)) Object.assign(env, staticEnv);
  else if (Object.keys(manifest.vars).length > 0 && shellReasons.length === 0) shellReasons.push('[vars] use shell expansion');

  const needsShell = shellReasons.length > 0;
  let shell = opts.shellPath ?? '/bin/sh';
  if (facts.sh) shell = `${F}/bin/sh`;
  else if (needsShell && !opts.shellPath) warnings.push(`the environment has no bin/sh; the activation runs with /bin/sh from the image`);
  if (hook && !facts.bash) warnings.push(`hook.on-activate needs bash, which the environment does not provide; it runs only if the image has bash`);

  return {
    env,
    needsShell,
    envMountPath: ENV_MOUNT,
    cacheMountPath: CACHE_MOUNT,
    stateDir: STATE_DIR,
    activatedEnvFile: ACTIVATED_ENV,
    activateScript: ACTIVATE,
    attachScript: ATTACH,
    wrapArgs: needsShell ? [shell, ACTIVATE] : [],
    execWrapArgs: needsShell ? [shell, ATTACH] : [],
    mode: opts.mode,
    shellReasons,
    warnings,
  };
}
