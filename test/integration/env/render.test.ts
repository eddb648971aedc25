// Rendering run and dev profiles from real fixture store paths (resolved from the local hub):
// buildEnv-style merging, priorities, conflicts, propagation, and render-once sharing.
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderEnvironment, storePathsOf, selectPackages } from '../../../src/env/index.js';
import { FloxError } from '../../../src/errors.js';
import { type EnvironmentRef, type ResolvedEnvironment, resolveEnvironment } from '../../../src/floxhub/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { startTestHub, type TestHub } from '../../support/hub.js';

let hub: TestHub;
let state: string;
const SYSTEM = 'x86_64-linux';
beforeAll(async () => {
  hub = await startTestHub();
  state = mkdtempSync(join(tmpdir(), 'env-render-'));
  const P = hub.nix.packages;
  const f = hub.fixtures;
  // devtool alone: run links only it; dev follows its propagated-build-inputs (libgreet.dev -> out)
  const devToml = 'schema-version = "1.10.0"\n\n[install]\ndevtool.pkg-path = "devtool"\n';
  f.pushGeneration({ outDir: hub.outDir, owner: 'public-owner', name: 'devonly', manifestToml: devToml, lock: f.makeLock(devToml, [f.catalogEntry('devtool', P.devtool!)]) });
  // the same store path installed twice is not a conflict
  const twiceToml = `schema-version = "1.10.0"\n\n[install]\nhello.pkg-path = "hello"\nhello-again.store-path = "${P.hello!.out}"\n`;
  f.pushGeneration({
    outDir: hub.outDir, owner: 'public-owner', name: 'twice', manifestToml: twiceToml,
    lock: f.makeLock(twiceToml, [f.catalogEntry('hello', P.hello!), { install_id: 'hello-again', store_path: P.hello!.out, system: SYSTEM, priority: 5 }]),
  });
  // hello (2.12.1, priority 5) vs hello2 (2.12.2, priority 4): same files, hello2 wins everywhere
  const prioToml = 'schema-version = "1.10.0"\n\n[install]\nhello.pkg-path = "hello"\nhello2.pkg-path = "hello2"\nhello2.priority = 4\n';
  f.pushGeneration({
    outDir: hub.outDir, owner: 'public-owner', name: 'hellos', manifestToml: prioToml,
    lock: f.makeLock(prioToml, [f.catalogEntry('hello', P.hello!), f.catalogEntry('hello2', P.hello2!, { priority: 4 })]),
  });
});
afterAll(async () => {
  await hub?.close();
  rmSync(state, { recursive: true, force: true });
});

async function resolve(name: string, generation?: number): Promise<ResolvedEnvironment> {
  const ref: EnvironmentRef = { owner: 'public-owner', name, ...(generation ? { generation } : {}) };
  return resolveEnvironment(ref, { gitUrl: hub.gitUrl, stateDir: state, timeoutMs: 5000, log: silentLogger });
}

async function render(name: string, mode: 'run' | 'dev', stateDir = state) {
  const resolved = await resolve(name);
  return { resolved, ...(await renderEnvironment({ resolved, mode, system: SYSTEM, stateDir, storeDir: hub.storeDir, log: silentLogger })) };
}

const link = (dir: string, rel: string) => readlinkSync(join(dir, rel));
const isLink = (dir: string, rel: string) => {
  try {
    return lstatSync(join(dir, rel)).isSymbolicLink();
  } catch {
    return false;
  }
};
const has = (dir: string, rel: string) => {
  try {
    lstatSync(join(dir, rel));
    return true;
  } catch {
    return false;
  }
};

describe('run and dev trees', () => {
  it('run: selected outputs and propagated user-env packages, links into /nix/store', async () => {
    const { hostDir, created } = await render('full', 'run');
    expect(created).toBe(true);
    const P = hub.nix.packages;
    expect(link(hostDir, 'bin/hello')).toBe(`${P.hello!.out}/bin/hello`);
    // pyish propagates greet as a user-env package
    expect(link(hostDir, 'bin/greet')).toBe(`${P.greet!.out}/bin/greet`);
    // bin is provided by several packages: a real directory; share/info by hello only: one link
    expect(lstatSync(join(hostDir, 'bin')).isDirectory()).toBe(true);
    expect(isLink(hostDir, 'bin')).toBe(false);
    // busybox's relative applet links are linked as they are (resolved inside the container)
    expect(link(hostDir, 'bin/sh')).toBe(`${P.busybox!.out}/bin/sh`);
    // never linked: nix-support; libgreet stubs are not selected (outputs = ["out","dev"])
    expect(has(hostDir, 'nix-support')).toBe(false);
    expect(has(hostDir, 'lib/stubs')).toBe(false);
    expect(readdirSync(join(hostDir, 'activate.d')).sort()).toEqual(['activate', 'attach', 'envrc', 'hook-on-activate']);
    expect(existsSync(join(hostDir, 'manifest.lock'))).toBe(true);
  });

  it('dev additionally links propagated build inputs, recursively', async () => {
    const run = await render('devonly', 'run');
    const dev = await render('devonly', 'dev');
    const P = hub.nix.packages;
    expect(run.hostDir).not.toBe(dev.hostDir);
    expect(readdirSync(run.hostDir).sort()).toEqual(['activate.d', 'bin', 'manifest.lock', 'render.json']);
    // a directory only one package provides is one link to it (buildEnv's lazy linking)
    expect(link(run.hostDir, 'bin')).toBe(`${P.devtool!.out}/bin`);
    expect(link(dev.hostDir, 'bin')).toBe(`${P.devtool!.out}/bin`);
    expect(link(dev.hostDir, 'include')).toBe(`${P.libgreet!.dev}/include`);
    // lib comes from libgreet.dev (pkgconfig) and, through its propagated-build-inputs, libgreet.out
    expect(link(dev.hostDir, 'lib/pkgconfig')).toBe(`${P.libgreet!.dev}/lib/pkgconfig`);
    expect(link(dev.hostDir, 'lib/libgreet.so')).toBe(`${P.libgreet!.out}/lib/libgreet.so`);
  });

  it('legacy manifests link every output but stubs', async () => {
    const r = await resolve('gitlab');
    const sel = selectPackages(r, SYSTEM);
    expect(sel.packages.find((p) => p.installId === 'libgreet')!.outputs.map((o) => o.output)).toEqual(['dev', 'out']);
    expect(storePathsOf(sel)).not.toContain(hub.nix.packages.libgreet!.stubs);
    const { hostDir } = await render('gitlab', 'run');
    expect(link(hostDir, 'include')).toBe(`${hub.nix.packages.libgreet!.dev}/include`);
    expect(has(hostDir, 'lib/stubs')).toBe(false);
  });
});

describe('conflicts and priorities', () => {
  it('equal priorities on the same file: a render error naming both packages', async () => {
    const err = await render('conflict', 'run').catch((e: FloxError) => e);
    expect(err).toBeInstanceOf(FloxError);
    expect(err).toMatchObject({ kind: 'render', message: expect.stringMatching(/conflict on bin\/tool: provided by both tool-a and tool-b.*priority/) });
    expect(readdirSync(join(state, 'envs')).filter((d) => d.startsWith('.tmp'))).toEqual([]);
  });

  it('the lower priority number wins', async () => {
    const { hostDir } = await render('priority', 'run');
    expect(link(hostDir, 'bin/tool')).toBe(`${hub.nix.packages['tool-b']!.out}/bin/tool`);
  });

  it('a winning package wins in unfolded directories too', async () => {
    const { hostDir } = await render('hellos', 'run');
    expect(link(hostDir, 'bin/hello')).toBe(`${hub.nix.packages.hello2!.out}/bin/hello`);
  });

  it('the same store path twice is no conflict', async () => {
    const { hostDir } = await render('twice', 'run');
    expect(link(hostDir, 'bin')).toBe(`${hub.nix.packages.hello!.out}/bin`);
  });

  it('a lock for another system only is a lock error', async () => {
    const err = await render('othersystem', 'run').catch((e: FloxError) => e);
    expect(err).toMatchObject({ kind: 'lock', message: expect.stringMatching(/locked for aarch64-linux only.*x86_64-linux/) });
  });
});

describe('packages whose links leave the store', () => {
  it("a package linking share and etc to host directories: none of the host's entry names reach the rendered env", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'env-escape-'));
    try {
      // what the attacker wants listed: another tenant's pod uids, a profile.d script name
      const hostDir0 = join(dir, 'host');
      mkdirSync(join(hostDir0, 'pods', '11111111-pod-uid-of-another-tenant'), { recursive: true });
      mkdirSync(join(hostDir0, 'etc', 'profile.d'), { recursive: true });
      writeFileSync(join(hostDir0, 'etc', 'profile.d', 'host-secret-marker.sh'), 'x');
      // two store paths in the node store (<state-dir>/store): evil links out, plain is ordinary
      const storeDir = join(dir, 'state', 'store');
      const evil = `/nix/store/${'1'.repeat(32)}-evil`;
      const plain = `/nix/store/${'2'.repeat(32)}-plain`;
      const up = (p: string) => `${'../'.repeat(40)}${p.slice(1)}`;
      mkdirSync(join(storeDir, basename(evil), 'bin'), { recursive: true });
      writeFileSync(join(storeDir, basename(evil), 'bin', 'evil'), 'e');
      symlinkSync(up(join(hostDir0, 'pods')), join(storeDir, basename(evil), 'share'));
      symlinkSync(up(join(hostDir0, 'etc')), join(storeDir, basename(evil), 'etc'));
      mkdirSync(join(storeDir, basename(plain), 'share', 'doc'), { recursive: true });
      writeFileSync(join(storeDir, basename(plain), 'share', 'doc', 'plain'), 'p');
      const toml = `schema-version = "1.10.0"\n\n[install]\nevil.store-path = "${evil}"\nplain.store-path = "${plain}"\n`;
      const f = hub.fixtures;
      f.pushGeneration({
        outDir: hub.outDir, owner: 'public-owner', name: 'escape', manifestToml: toml,
        lock: f.makeLock(toml, [{ install_id: 'evil', store_path: evil, system: SYSTEM, priority: 5 }, { install_id: 'plain', store_path: plain, system: SYSTEM, priority: 6 }]),
      });
      const { hostDir } = await renderEnvironment({ resolved: await resolve('escape'), mode: 'dev', system: SYSTEM, stateDir: join(dir, 'state'), storeDir, log: silentLogger });
      expect(readdirSync(hostDir)).toContain('bin');
      const names: string[] = [];
      const walk = (d: string) => {
        for (const n of readdirSync(d)) {
          names.push(n);
          if (lstatSync(join(d, n)).isDirectory()) walk(join(d, n));
        }
      };
      walk(hostDir);
      expect(names.join(' ')).not.toMatch(/pod-uid|host-secret-marker/);
      expect(readFileSync(join(hostDir, 'render.json'), 'utf8')).not.toMatch(/host-secret-marker/);
      expect(readdirSync(join(hostDir, 'activate.d')).join(' ')).not.toMatch(/host-secret-marker/);
      // kept as plain links, resolved by the container in its own filesystem
      expect(link(hostDir, 'share')).toBe(`${evil}/share`);
      expect(link(hostDir, 'etc')).toBe(`${evil}/etc`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Whether user 65534 (no groups) can run `argv`: root ignores mode bits, so ask someone else. */
const nobodyCan = (...argv: string[]) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...argv], { stdio: 'ignore' }).status === 0;

describe('file modes', () => {
  it('envs is not listable (0711, also when an older version made it 0755); a rendered env is readable by any uid but render.json', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'env-modes-'));
    try {
      chmodSync(parent, 0o755); // mkdtemp's 0700 would hide everything from uid 65534 anyway
      const stateDir = join(parent, 'state');
      mkdirSync(join(stateDir, 'envs'), { recursive: true });
      chmodSync(join(stateDir, 'envs'), 0o755);
      const { hostDir } = await render('static', 'run', stateDir);
      const envs = join(stateDir, 'envs');
      expect(statSync(envs).mode & 0o7777).toBe(0o711);
      expect(nobodyCan('ls', envs)).toBe(false);
      // what the container's user reads: activation (envrc holds [vars]), the lock, the profile
      expect(readFileSync(join(hostDir, 'activate.d', 'envrc'), 'utf8')).toContain('MODE_NAME');
      for (const f of ['activate.d/envrc', 'activate.d/activate', 'manifest.lock']) expect(nobodyCan('cat', join(hostDir, f)), f).toBe(true);
      expect(nobodyCan('ls', join(hostDir, 'activate.d'))).toBe(true);
      expect(nobodyCan('ls', join(hostDir, 'bin'))).toBe(true);
      // only the runtime reads render.json
      expect(statSync(join(hostDir, 'render.json')).mode & 0o7777).toBe(0o400);
      expect(nobodyCan('cat', join(hostDir, 'render.json'))).toBe(false);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe('render once, shared', () => {
  it('the second render of the same generation and mode reuses the first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'env-once-'));
    try {
      const a = await render('static', 'run', dir);
      const b = await render('static', 'run', dir);
      expect(a.created).toBe(true);
      expect(b).toMatchObject({ created: false, hostDir: a.hostDir, key: a.key });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('concurrent renders: one creates, the others share it, no temp dirs left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'env-race-'));
    try {
      const resolved = await resolve('full');
      const rs = await Promise.all(
        [0, 1, 2, 3].map(() => renderEnvironment({ resolved, mode: 'dev', system: SYSTEM, stateDir: dir, storeDir: hub.storeDir, log: silentLogger })),
      );
      expect(rs.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(rs.map((r) => r.hostDir)).size).toBe(1);
      expect(readdirSync(join(dir, 'envs'))).toEqual([rs[0]!.key]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a new generation renders to a new key', async () => {
    const a = await render('multi', 'run');
    const pinned = await resolve('multi', 3);
    const b = await renderEnvironment({ resolved: pinned, mode: 'run', system: SYSTEM, stateDir: state, storeDir: hub.storeDir, log: silentLogger });
    expect(a.key).not.toBe(b.key);
    expect(b.key).toMatch(/-multi-3-run$/);
  });
});
