import { describe, expect, it } from 'vitest';
import { applyModifiers, modifiersFor, mountStore, setProcessEnv, wrapProcessArgs } from '../../../src/inject/modifiers.js';
import type { InjectionPlan } from '../../../src/inject/types.js';
import type { OciSpec } from '../../../src/oci/spec.js';

const base = (): OciSpec => ({
  ociVersion: '1.0.2-dev',
  process: { args: ['sh', '-c', 'hello'], env: ['PATH=/bin', 'HOSTNAME=n'], cwd: '/work' },
  mounts: [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/nix/store', type: 'bind', source: '/host/evil', options: ['rbind', 'rw'] },
  ],
  annotations: { 'flox.dev/environment': 'o/n' },
  linux: { namespaces: [{ type: 'mount' }] },
});

describe('spec modifiers', () => {
  it('are no-ops when the plan asks for nothing but the store', () => {
    const spec = base();
    const out = applyModifiers(spec, [setProcessEnv({ store: { hostDir: '/s' } }), wrapProcessArgs({ store: { hostDir: '/s' } })]);
    expect(out).toBe(spec);
  });

  it('mount the node store read-only, nosuid, nodev, replacing any mount the pod put at /nix/store', () => {
    const out = mountStore({ store: { hostDir: '/var/lib/flox-runtime/store' } })(base());
    const stores = out.mounts!.filter((m) => m.destination === '/nix/store');
    expect(stores).toEqual([{ destination: '/nix/store', type: 'bind', source: '/var/lib/flox-runtime/store', options: ['bind', 'ro', 'nosuid', 'nodev'] }]);
    expect(out.mounts![0]).toEqual({ destination: '/proc', type: 'proc', source: 'proc' });
  });

  it('closure mode mounts each store path on its own, and drops the pod\'s own /nix mounts', () => {
    const spec = base();
    spec.mounts!.push({ destination: '/nix', type: 'bind', source: '/host/nix' }, { destination: '/nix/store/zzz-x/', type: 'bind', source: '/host/y' });
    const out = mountStore({ store: { hostDir: '/st', closure: ['/nix/store/aaa-hello', '/nix/store/bbb-glibc'] } })(spec);
    expect(out.mounts!.filter((m) => m.destination.startsWith('/nix')).map((m) => [m.destination, m.source])).toEqual([
      ['/nix/store/aaa-hello', '/st/aaa-hello'],
      ['/nix/store/bbb-glibc', '/st/bbb-glibc'],
    ]);
  });

  it('nix-mutable is an overlay: the node store only ever a lower layer', () => {
    const out = mountStore({ store: { hostDir: '/st' }, nixMutable: { upperDir: '/b/upper', workDir: '/b/work' } })(base());
    const m = out.mounts!.find((x) => x.destination === '/nix/store')!;
    expect(m.type).toBe('overlay');
    expect(m.options).toEqual(['lowerdir=/st', 'upperdir=/b/upper', 'workdir=/b/work', 'nosuid', 'nodev']);
    expect(m.options!.some((o) => o.startsWith('upperdir=/st'))).toBe(false);
  });

  it('the full chain: environment, tmpfs, tools, env and wrapped args; unknown fields kept; input not mutated', () => {
    const spec = base();
    const before = JSON.stringify(spec);
    const plan: InjectionPlan = {
      store: { hostDir: '/st' },
      env: { hostDir: '/state/envs/k', mountPath: '/run/flox/env' },
      tmpfs: ['/run/flox/cache', '/run/flox/state'],
      files: [{ hostPath: '/st/xyz-busybox/bin/busybox', containerPath: '/bin/sh' }],
      processEnv: { PATH: '/run/flox/env/bin:/bin', FLOX_ENV: '/run/flox/env' },
      wrapArgs: ['/bin/sh', '/run/flox/env/activate.d/activate'],
    };
    const out = applyModifiers(spec, modifiersFor(plan));
    expect(JSON.stringify(spec)).toBe(before);
    expect(out.process!.args).toEqual(['/bin/sh', '/run/flox/env/activate.d/activate', 'sh', '-c', 'hello']);
    expect(out.process!.env).toEqual(['PATH=/run/flox/env/bin:/bin', 'FLOX_ENV=/run/flox/env']);
    expect(out.process!.cwd).toBe('/work');
    expect(out.linux).toEqual({ namespaces: [{ type: 'mount' }] });
    expect(out.mounts!.map((m) => m.destination)).toEqual(['/proc', '/nix/store', '/run/flox/env', '/run/flox/cache', '/run/flox/state', '/bin/sh']);
    expect(out.mounts!.find((m) => m.destination === '/run/flox/env')!.options).toContain('ro');
    expect(out.mounts!.find((m) => m.destination === '/bin/sh')!.options).toContain('ro');
    expect(out.mounts!.find((m) => m.destination === '/run/flox/cache')!.type).toBe('tmpfs');
  });
});
