// podman as a real client of bin/flox-runtime (`podman --runtime`), and through it conmon,
// the monitor CRI-O uses: what an engineer runs on a laptop to debug an environment. podman
// runs with its own root, runroot and config (the machine's podman state is never touched),
// cgroupfs (no systemd here), no network, explicit ulimits (its defaults can exceed a
// sandboxed machine's), against the local FloxHub and the signed Nix cache of the e2e lab.
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../support/hub.js';
import { FRONTEND } from '../support/paths.js';
import { BUSYBOX_IMAGE, ensureImages, EMPTY_IMAGE } from './support/images.js';
import { which } from './support/paths.js';

const missing = ['podman', 'conmon', 'runc'].filter((b) => !which(b));
const skip = process.getuid?.() !== 0 || missing.length > 0;
if (skip && process.env.CI === 'true') throw new Error(`podman e2e: prerequisites missing on CI: ${missing.join(', ') || 'root'}`);

describe.skipIf(skip)('podman --runtime bin/flox-runtime', () => {
  let hub: TestHub;
  let work: string;
  let configPath: string;
  let runtimeLog: string;
  let podmanArgs: string[];

  const podman = (args: string[], opts: { reject?: boolean; input?: string } = {}) =>
    execa('podman', [...podmanArgs, ...args], { reject: opts.reject ?? false, env: { FLOX_RUNTIME_CONFIG: configPath, PATH: process.env.PATH! }, timeout: 120_000, ...(opts.input !== undefined && { input: opts.input }) });
  const RUN = ['run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

  beforeAll(async () => {
    hub = await startTestHub();
    work = mkdtempSync(join(tmpdir(), 'flox-podman-'));
    configPath = join(work, 'config.toml');
    runtimeLog = join(work, 'runtime.log');
    writeFileSync(
      configPath,
      `[runtime]\ndelegate = ["runc"]\nstate-dir = "${join(work, 'state')}"\nshell-store-path = "${hub.nix.packages.busybox!.out}"\n` +
        `[floxhub]\nurl = "${hub.url}"\ngit-url = "${hub.gitUrl}"\ntimeout-ms = 5000\n` +
        `[nix]\nsubstituters = ["${hub.url}/cache-zstd"]\ntrusted-public-keys = ["${hub.nix.publicKey}"]\ntimeout-ms = 10000\n` +
        `[log]\nfile = "${runtimeLog}"\nlevel = "debug"\n`,
    );
    // conmon runs the runtime with an environment of its own: the test's config comes through a
    // wrapper, as a node's comes from /etc/flox-runtime/config.toml
    const runtime = join(work, 'flox-runtime');
    writeFileSync(runtime, `#!/bin/sh\nFLOX_RUNTIME_CONFIG=${configPath} exec ${FRONTEND} "$@"\n`, { mode: 0o755 });
    podmanArgs = [
      '--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--tmpdir', join(work, 'tmp'),
      '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
      '--runtime', runtime,
    ];
    const images = await ensureImages();
    for (const img of images) {
      const r = await podman(['load', '-q', '-i', img.tar]);
      expect(r.exitCode, r.stderr).toBe(0);
    }
  }, 300_000);
  afterAll(async () => {
    await podman(['rm', '-af']);
    await hub?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('podman run with the environment annotation runs the command inside the environment', async () => {
    const r = await podman([...RUN, '--annotation', 'flox.dev/environment=public-owner/hello', EMPTY_IMAGE, 'hello']);
    expect(r.stdout).toBe('Hello, world!');
    expect(r.exitCode).toBe(0);
  });

  it('podman exec into the container joins the environment; the container without the annotation is left as runc runs it', async () => {
    const started = await podman([...RUN.filter((a) => a !== '--rm'), '-d', '-i', '--name', 'flox-exec', '--annotation', 'flox.dev/environment=public-owner/hello', EMPTY_IMAGE, 'sh', '-c', 'read line']);
    expect(started.exitCode, started.stderr).toBe(0);
    try {
      const e = await podman(['exec', 'flox-exec', 'sh', '-c', 'hello && echo "FLOX_ENV=$FLOX_ENV"']);
      expect(e.stderr).toBe('');
      expect(e.stdout).toBe('Hello, world!\nFLOX_ENV=/run/flox/env');
      expect(e.exitCode).toBe(0);
    } finally {
      await podman(['rm', '-f', '-t', '0', 'flox-exec']);
    }
    const plain = await podman([...RUN, BUSYBOX_IMAGE, 'sh', '-c', 'echo "FLOX_ENV=${FLOX_ENV-unset}"; ls /nix 2>&1 | head -1']);
    expect(plain.stdout).toBe('FLOX_ENV=unset\nls: /nix: No such file or directory');
    expect(plain.exitCode).toBe(0);
  });

  it('a private environment takes its token from a mounted secret directory; without it, podman shows the flox: error', async () => {
    const denied = await podman([...RUN, '--annotation', 'flox.dev/environment=private-owner/secret', EMPTY_IMAGE, 'hello']);
    expect(denied.exitCode).not.toBe(0);
    expect(denied.stderr).toMatch(/Error: OCI runtime error: .*flox: .*private-owner\/secret/);
    const secret = join(work, 'secret');
    mkdirSync(secret, { recursive: true });
    writeFileSync(join(secret, 'floxhub-token'), `${hub.token}\n`);
    const ok = await podman([...RUN, '-v', `${secret}:/var/run/secrets/flox.dev:ro`, '--annotation', 'flox.dev/environment=private-owner/secret', EMPTY_IMAGE, 'hello']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/Hello/);
    expect(ok.exitCode).toBe(0);
    const line = readFileSync(runtimeLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'activated').at(-1);
    expect(line).toMatchObject({ environment: 'private-owner/secret', auth: 'pod' });
  });

  it('a bad annotation fails the container with the flox: error in podman\'s output', async () => {
    const r = await podman([...RUN, '--annotation', 'flox.dev/environment=public-owner/hello', '--annotation', 'flox.dev/activate-mode=debug', EMPTY_IMAGE, 'hello']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/flox: invalid flox\.dev\/activate-mode "debug": expected "run" or "dev"/);
  });
});
