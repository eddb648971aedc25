// Flox's step 4: in dev mode (only) the packages' etc/profile.d/*.sh are sourced after [vars],
// so a package's export wins over a same-named var. A synthetic package next to a copy of the
// fixture's busybox, rendered and run in the container-like root.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planActivation, renderEnvironment } from '../../../src/env/index.js';
import { parseLockfile } from '../../../src/floxhub/lockfile.js';
import { parseManifestToml } from '../../../src/floxhub/manifest.js';
import { silentLogger } from '../../../src/log/logger.js';
import { canSandbox, runInSandbox } from '../../support/floxhub-sandbox.js';
import { ensureNixFixture } from '../../support/nixcache.js';

let work: string;
let store: string;
let busybox: string;
const PROFD = `/nix/store/${'p'.repeat(32)}-profd-1.0`;
beforeAll(async () => {
  const nix = await ensureNixFixture();
  work = mkdtempSync(join(tmpdir(), 'env-profd-'));
  store = join(work, 'store');
  busybox = nix.packages.busybox!.out!;
  cpSync(join(nix.localStore, busybox), join(store, basename(busybox)), { recursive: true, verbatimSymlinks: true });
  const pkg = join(store, basename(PROFD));
  mkdirSync(join(pkg, 'etc/profile.d'), { recursive: true });
  writeFileSync(join(pkg, 'etc/profile.d/50-profd.sh'), 'export PROFD_SET="from-profile:$GREETING"\nexport VAR_X=plugin\n');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function resolved() {
  const toml = 'schema-version = "1.10.0"\n[install]\nbusybox.pkg-path = "busybox"\nprofd.store-path = "' + PROFD + '"\n[vars]\nGREETING = "hi"\nVAR_X = "vars"\n';
  const lock = parseLockfile(JSON.stringify({
    'lockfile-version': 1,
    packages: [
      { attr_path: 'busybox', install_id: 'busybox', system: 'x86_64-linux', outputs: { out: busybox }, priority: 5 },
      { install_id: 'profd', store_path: PROFD, system: 'x86_64-linux', priority: 5 },
    ],
  }));
  return { ref: { owner: 'o', name: 'profd' }, generation: 1, commit: 'c'.repeat(40), manifest: parseManifestToml(toml), lock, lockJson: '{}', description: 'o/profd' };
}

const sandbox = canSandbox() ? describe : describe.skip;
sandbox('package profile scripts', () => {
  for (const mode of ['dev', 'run'] as const) {
    it(`${mode} mode`, async () => {
      const r = resolved();
      const { hostDir } = await renderEnvironment({ resolved: r, mode, system: 'x86_64-linux', stateDir: join(work, 'state'), storeDir: store, log: silentLogger });
      const plan = planActivation({ resolved: r, mode, baseEnv: ['PATH=/bin'], cwd: '/', hostDir });
      const run = await runInSandbox({ envDir: hostDir, storeDir: store, hostTools: false, env: plan.env, argv: [...plan.wrapArgs, 'env'] });
      const env = Object.fromEntries(run.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      if (mode === 'dev') {
        expect(plan.shellReasons).toEqual(['package profile scripts (etc/profile.d)']);
        expect(env).toMatchObject({ PROFD_SET: 'from-profile:hi', VAR_X: 'plugin', GREETING: 'hi' });
      } else {
        // run mode: no package profile scripts, so the vars are static and no shell runs
        expect(plan.needsShell).toBe(false);
        expect(run.code, run.stderr).toBe(0);
        expect(env.PROFD_SET).toBeUndefined();
        expect(env.VAR_X).toBe('vars');
      }
    });
  }
});
