import { describe, expect, it } from 'vitest';
import { planActivation } from '../../../src/env/plan.js';
import { activationFiles, outdent } from '../../../src/env/scripts.js';
import { parseManifestToml } from '../../../src/floxhub/manifest.js';

const facts = { sh: true, bash: true, cmake: false, java: false, profileScripts: [] as string[] };
const plan = (toml: string, o: Partial<Parameters<typeof planActivation>[0]> = {}) =>
  planActivation({ resolved: { manifest: parseManifestToml(toml), description: 'o/n', generation: 1 }, mode: 'run', baseEnv: ['PATH=/usr/bin:/run/flox/env/bin:/bin', 'A=1'], cwd: '/app', facts, ...o });

describe('planActivation', () => {
  it('prepends the environment to PATH without duplicates and keeps the spec env', () => {
    const p = plan('version = 1\n');
    expect(p.env.PATH).toBe('/run/flox/env/bin:/usr/bin:/bin');
    expect(p.env.A).toBe('1');
    expect(p.env.FLOX_ENV_PROJECT).toBe('/app');
  });
  it('a default PATH when the spec has none; nested environments in FLOX_ENV_DIRS', () => {
    const p = plan('version = 1\n', { baseEnv: ['FLOX_ENV_DIRS=/outer', 'MANPATH=/m', 'INFOPATH=/i:', 'XDG_DATA_DIRS=/x'] });
    expect(p.env.FLOX_ENV_DIRS).toBe('/run/flox/env:/outer');
    expect(p.env.PATH).toBe('/run/flox/env/bin:/outer/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(p.env.MANPATH).toBe('/run/flox/env/share/man:/outer/share/man:/m');
    expect(p.env.INFOPATH).toBe('/run/flox/env/share/info:/i:');
    expect(p.env.XDG_DATA_DIRS).toBe('/run/flox/env/share:/x');
  });
  it('dev mode: build paths, python, cmake, java from the tree facts', () => {
    const p = plan('version = 1\n', { mode: 'dev', baseEnv: ['CPATH=/c', 'PYTHONPATH=/p'], facts: { ...facts, pythonSitePackages: 'lib/python3.12/site-packages', cmake: true, java: true } });
    expect(p.env).toMatchObject({
      CPATH: '/run/flox/env/include:/c',
      LIBRARY_PATH: '/run/flox/env/lib',
      PKG_CONFIG_PATH: '/run/flox/env/lib/pkgconfig:/run/flox/env/share/pkgconfig',
      ACLOCAL_PATH: '/run/flox/env/share/aclocal',
      PYTHONPATH: '/p:/run/flox/env/lib/python3.12/site-packages',
      CMAKE_PREFIX_PATH: '/run/flox/env',
      JAVA_HOME: '/run/flox/env',
    });
  });
  it('vars override profile variables statically; shell reasons otherwise', () => {
    const s = plan('version = 1\n[vars]\nXDG_DATA_DIRS = "/mine:${XDG_DATA_DIRS}"\n');
    expect(s.needsShell).toBe(false);
    expect(s.env.XDG_DATA_DIRS).toBe('/mine:/run/flox/env/share');
    expect(plan('version = 1\n[vars]\nX = "$(id)"\n').shellReasons).toEqual(['[vars] use shell expansion']);
    expect(plan('version = 1\n[hook]\non-activate = "true"\n').shellReasons).toEqual(['hook.on-activate']);
    expect(plan('version = 1\n', { mode: 'dev', facts: { ...facts, profileScripts: ['x.sh'] } }).shellReasons).toEqual(['package profile scripts (etc/profile.d)']);
  });
  it('the shell: the environment sh, else the configured one, else /bin/sh with a warning', () => {
    const hook = 'version = 1\n[hook]\non-activate = "true"\n';
    expect(plan(hook).wrapArgs).toEqual(['/run/flox/env/bin/sh', '/run/flox/env/activate.d/activate']);
    expect(plan(hook, { facts: { ...facts, sh: false }, shellPath: '/nix/store/x-busybox/bin/sh' }).wrapArgs[0]).toBe('/nix/store/x-busybox/bin/sh');
    const bare = plan(hook, { facts: { ...facts, sh: false, bash: false } });
    expect(bare.wrapArgs[0]).toBe('/bin/sh');
    expect(bare.warnings.join('\n')).toMatch(/no bin\/sh[\s\S]*needs bash/);
  });
});

describe('activation files', () => {
  it('outdents scripts as Flox does', () => {
    expect(outdent('\n    a\n      b\n    c\n  ')).toBe('a\n  b\nc\n');
  });
  it('activate ends in exec "$@"; dev mode sources package profile scripts; no hook file without a hook', () => {
    const f = activationFiles({ manifest: parseManifestToml('version = 1\n[vars]\nA = "1"\n'), mode: 'dev', description: 'o/n', generation: 3 });
    expect(f.activate.trimEnd().endsWith('exec "$@"')).toBe(true);
    expect(f.attach.trimEnd().endsWith('exec "$@"')).toBe(true);
    expect(f.activate).toContain('etc/profile.d/*.sh');
    expect(f['hook-on-activate']).toBeUndefined();
    expect(f.envrc).toBe('export A="1"\n');
    const run = activationFiles({ manifest: parseManifestToml('version = 1\n[hook]\non-activate = "  echo hi\\n"\n'), mode: 'run', description: 'o/n', generation: 3 });
    expect(run.activate).not.toContain('profile.d');
    expect(run['hook-on-activate']).toBe('echo hi\n');
  });
});
