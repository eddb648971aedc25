// bin/flox-runtime as containerd's shim runs it, with a recording fake runc first on PATH:
// what goes straight to the delegate (same pid: exec'd by sh), what goes through Node, and
// that argv, fds, stdout, exit status and config.json pass through exactly.
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installFakeRunc, readRecord } from '../../support/fake-runc.js';
import { DIST, FRONTEND, REPO } from '../../support/paths.js';

const ID = 'c0ffee01';
let work: string;
let fakeBin: string;
let config: string;

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  pid: number;
  stdout: string;
  stderr: string;
  record: ReturnType<typeof readRecord>;
  stdoutPath: string;
  stderrPath: string;
}

function run(argv: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Run {
  const n = Math.random().toString(36).slice(2);
  const stdoutPath = join(work, `out-${n}`);
  const stderrPath = join(work, `err-${n}`);
  const recordFile = join(work, `rec-${n}`);
  const out = openSync(stdoutPath, 'w');
  const err = openSync(stderrPath, 'w');
  const r = spawnSync(FRONTEND, argv, {
    stdio: ['ignore', out, err],
    cwd: opts.cwd ?? work,
    env: { PATH: `${fakeBin}:/usr/bin:/bin`, FLOX_RUNTIME_CONFIG: config, FAKE_RUNC_RECORD: recordFile, ...opts.env },
  });
  closeSync(out);
  closeSync(err);
  return {
    status: r.status,
    signal: r.signal,
    pid: r.pid!,
    stdout: readFileSync(stdoutPath, 'utf8'),
    stderr: readFileSync(stderrPath, 'utf8'),
    record: readRecord(recordFile),
    stdoutPath,
    stderrPath,
  };
}

function bundle(fixture: string, mutate?: (a: Record<string, string>) => void): string {
  const dir = mkdtempSync(join(work, 'bundle-'));
  const spec = JSON.parse(readFileSync(join(REPO, 'test/fixtures/specs', `${fixture}.json`), 'utf8')) as { annotations: Record<string, string> };
  // keep the fixture's exact bytes unless the test changes annotations
  if (mutate) {
    mutate(spec.annotations);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  } else {
    copyFileSync(join(REPO, 'test/fixtures/specs', `${fixture}.json`), join(dir, 'config.json'));
  }
  return dir;
}

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const shim = (b: string, cmd: string[]) => ['--root', join(work, 'runc-root'), '--log', join(b, 'log.json'), '--log-format', 'json', ...cmd];

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error('dist/ missing: run `npm run build` (npm test does)');
  work = mkdtempSync(join(tmpdir(), 'frontend-'));
  fakeBin = join(work, 'bin');
  installFakeRunc(fakeBin);
  config = join(work, 'config.toml');
  // nothing but loopback: an unreachable hub and cache on a closed local port
  writeFileSync(
    config,
    `[runtime]\ndelegate = ["runc"]\nstate-dir = "${join(work, 'state')}"\n[floxhub]\nurl = "http://127.0.0.1:9"\ntimeout-ms = 2000\n` +
      `[nix]\nsubstituters = ["http://127.0.0.1:9/cache"]\n[log]\nfile = "${join(work, 'runtime.log')}"\n`,
  );
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('pass-through by exec, no Node', () => {
  it.each([
    [['state', ID]],
    [['--root', '/r', '--log', '/l.json', '--log-format', 'json', 'start', ID]],
    [['--root=/r', 'kill', '--all', ID, '9']],
    [['delete', '--force', ID]],
    [['ps', '--format', 'json', ID]],
    [['features']],
    // runc's help and its answer to unknown words are runc's own (creates: below, with real bundles)
    [['create', '--help']],
    [['exec', '-h']],
    [['help', 'create']],
    [['no-such-command', 'x']],
  ])('%j reaches runc with the same argv, pid, fds and output', (argv) => {
    const r = run(argv, { env: { FAKE_RUNC_EXIT: '3' } });
    expect(r.record?.argv).toEqual(argv);
    expect(r.record?.pid).toBe(r.pid); // exec'd, not spawned
    expect(r.record?.fds.slice(1)).toEqual([r.stdoutPath, r.stderrPath]);
    expect(r.stdout).toBe(`fake-stdout:${argv.join(' ')}\n`);
    expect(r.stderr).toBe('fake-stderr\n');
    expect(r.status).toBe(3);
  });

  it.each(['containerd-1.6-plain', 'containerd-1.6-sandbox', 'crio-1.30-sandbox'])('create of %s is exec\'d and config.json untouched', (f) => {
    const b = bundle(f);
    const before = sha(join(b, 'config.json'));
    const argv = shim(b, ['create', '--bundle', b, '--pid-file', join(b, 'init.pid'), ID]);
    const r = run(argv);
    expect(r.status).toBe(0);
    expect(r.record?.pid).toBe(r.pid);
    expect(r.record?.argv).toEqual(argv);
    expect(sha(join(b, 'config.json'))).toBe(before);
    expect(existsSync(join(b, 'log.json'))).toBe(false);
  });

  it('create with no --bundle reads config.json from the cwd', () => {
    const b = bundle('containerd-1.6-plain');
    const r = run(['create', ID], { cwd: b });
    expect(r.record?.pid).toBe(r.pid);
    expect(r.record?.cwd).toBe(b);
  });

  it('exec into a container that was not activated is exec\'d', () => {
    const r = run(['--root', join(work, 'runc-root'), 'exec', '--process', '/tmp/p.json', '--detach', ID]);
    expect(r.record?.pid).toBe(r.pid);
  });
});

describe('through Node', () => {
  it('a skipped container (skip-containers) is delegated with config.json byte-identical and stdout untouched', () => {
    const b = bundle('containerd-1.6-helper');
    const before = sha(join(b, 'config.json'));
    const argv = shim(b, ['create', '--bundle', b, '--pid-file', join(b, 'init.pid'), ID]);
    const r = run(argv, { env: { FAKE_RUNC_EXIT: '5' } });
    expect(r.record?.pid).not.toBe(r.pid); // Node spawned it
    expect(r.record?.argv).toEqual(argv);
    expect(r.record?.fds.slice(1)).toEqual([r.stdoutPath, r.stderrPath]);
    expect(r.stdout).toBe(`fake-stdout:${argv.join(' ')}\n`);
    expect(r.stderr).toBe('fake-stderr\n');
    expect(r.status).toBe(5);
    expect(sha(join(b, 'config.json'))).toBe(before);
  });

  it('relays a fatal signal of the delegate', () => {
    const b = bundle('containerd-1.6-helper');
    const r = run(shim(b, ['create', '--bundle', b, ID]), { env: { FAKE_RUNC_SIGNAL: 'TERM' } });
    expect(r.record).toBeDefined();
    expect(r.signal).toBe('SIGTERM');
  });

  it('an invalid annotation: one JSON error line in --log, the text on stderr, exit 1, no runc', () => {
    const b = bundle('containerd-1.6-build', (a) => {
      a['flox.dev/activate-mode'] = 'fast';
    });
    const before = sha(join(b, 'config.json'));
    const r = run(shim(b, ['create', '--bundle', b, ID]));
    expect(r.status).toBe(1);
    expect(r.record).toBeUndefined();
    const lines = readFileSync(join(b, 'log.json'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as { level: string; msg: string; time: string };
    expect(line.level).toBe('error');
    expect(line.msg).toBe('flox: invalid flox.dev/activate-mode "fast": expected "run" or "dev"');
    expect(new Date(line.time).toISOString()).toBe(line.time);
    expect(r.stderr).toBe(`${line.msg}\n`);
    expect(r.stdout).toBe('');
    expect(sha(join(b, 'config.json'))).toBe(before);
  });

  it('a create that activates runs the CommonJS OCI entry (no ES module loader); operator commands the ESM one', () => {
    const argvLog = join(work, 'node-argv');
    const fakeNode = join(work, 'argv-node');
    writeFileSync(fakeNode, `#!/bin/sh\necho "$1" >>"${argvLog}"\nexec "${process.execPath}" "$@"\n`, { mode: 0o755 });
    const b = bundle('containerd-1.6-build', (a) => {
      a['flox.dev/activate-mode'] = 'fast';
    });
    expect(run(shim(b, ['create', '--bundle', b, ID]), { env: { FLOX_RUNTIME_NODE: fakeNode } }).status).toBe(1);
    expect(run(['version'], { env: { FLOX_RUNTIME_NODE: fakeNode } }).status).toBe(0);
    expect(readFileSync(argvLog, 'utf8').trim().split('\n')).toEqual([join(DIST, '../oci-main.cjs'), DIST].map((p) => p.replace(`${REPO}/`, `${REPO}/bin/../`)));
  });

  it('CRI-O (no --log): the error goes to stderr only', () => {
    const b = bundle('crio-1.30-build', (a) => {
      a['flox.dev/environment'] = 'not-valid';
    });
    const r = run(['--root=/run/x', 'create', `--bundle=${b}`, ID]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^flox: invalid flox\.dev\/environment "not-valid"/);
    expect(r.record).toBeUndefined();
  });

  it('an activation failure is reported honestly and runc is not called', () => {
    const b = bundle('containerd-1.6-build');
    const r = run(shim(b, ['create', '--bundle', b, ID]));
    expect(r.status).toBe(1);
    expect(r.record).toBeUndefined();
    expect(JSON.parse(readFileSync(join(b, 'log.json'), 'utf8')).msg).toMatch(/^flox: cannot reach FloxHub for environment acme\/ci-tools .*\(container build of pod ci\/runner-abc\)$/);
  });

  it('exec into an activated container gets the recorded environment and wrapper', () => {
    const root = join(work, 'exec-root');
    mkdirSync(join(root, ID), { recursive: true });
    writeFileSync(join(root, ID, 'flox-exec.json'), JSON.stringify({ version: 1, environment: 'o/n', generation: 2, env: ['FLOX_ENV=/run/flox/env', 'PATH=/run/flox/env/bin:/bin'], wrapArgs: ['/run/flox/env/activate.d/attach'] }));
    const proc = join(work, 'process.json');
    writeFileSync(proc, '{"args":["sh","-c","id"],"env":["PATH=/bin","HOME=/root"],"cwd":"/","user":{"uid":0,"gid":0},"rlimits":[{"type":"RLIMIT_NOFILE","hard":18446744073709551615,"soft":1024}]}');
    const r = run(['--root', root, 'exec', '--process', proc, '--detach', ID]);
    expect(r.status).toBe(0);
    expect(r.record?.pid).not.toBe(r.pid);
    expect(r.record?.process).toBe(
      '{"args":["/run/flox/env/activate.d/attach","sh","-c","id"],"env":["HOME=/root","FLOX_ENV=/run/flox/env","PATH=/run/flox/env/bin:/bin"],"cwd":"/","user":{"uid":0,"gid":0},"rlimits":[{"type":"RLIMIT_NOFILE","hard":18446744073709551615,"soft":1024}]}',
    );
  });

  it('no delegate found: a JSON error line, exit 1', () => {
    const b = bundle('containerd-1.6-plain');
    const cfg = join(work, 'nodelegate.toml');
    writeFileSync(cfg, '[runtime]\ndelegate = ["/nonexistent/runc"]\n[log]\nfile = ""\n');
    const r = run(shim(b, ['start', ID]), { env: { FLOX_RUNTIME_CONFIG: cfg } });
    expect(r.status).toBe(1);
    expect(JSON.parse(readFileSync(join(b, 'log.json'), 'utf8')).msg).toMatch(/^flox: no delegate runtime found \(tried \/nonexistent\/runc/);
  });

  it('a malformed config file is a clear error', () => {
    const b = bundle('containerd-1.6-build');
    const cfg = join(work, 'bad.toml');
    writeFileSync(cfg, '[runtime]\nstate-dir = "relative"\n');
    const r = run(shim(b, ['create', '--bundle', b, ID]), { env: { FLOX_RUNTIME_CONFIG: cfg } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/flox: config file .*bad\.toml is invalid: runtime\.state-dir: must be an absolute path/);
  });

  it('uses the Node recorded by `install` in <root>/etc/node-path', () => {
    const root = join(work, 'installed');
    mkdirSync(join(root, 'bin'), { recursive: true });
    mkdirSync(join(root, 'etc'), { recursive: true });
    copyFileSync(FRONTEND, join(root, 'bin/flox-runtime'));
    chmodSync(join(root, 'bin/flox-runtime'), 0o755);
    symlinkSync(join(REPO, 'dist'), join(root, 'dist'));
    const marker = join(work, 'node-used');
    writeFileSync(join(root, 'libexec-node'), `#!/bin/sh\necho used >"${marker}"\nexec "${process.execPath}" "$@"\n`, { mode: 0o755 });
    writeFileSync(join(root, 'etc/node-path'), `${join(root, 'libexec-node')}\n`);
    const r = spawnSync(join(root, 'bin/flox-runtime'), ['version'], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
    expect(r.stdout, r.stderr).toMatch(/^flox-runtime \d+\.\d+\.\d+\n$/);
    expect(existsSync(marker)).toBe(true);
  });

  it('hands NODE_EXTRA_CA_CERTS to the runtime as FLOX_RUNTIME_EXTRA_CA_CERTS (Node would load it at start-up)', () => {
    const dump = join(work, 'node-env');
    const fakeNode = join(work, 'env-node');
    writeFileSync(fakeNode, `#!/bin/sh\nenv >"${dump}"\n`, { mode: 0o755 });
    const r = run(['version'], { env: { FLOX_RUNTIME_NODE: fakeNode, NODE_EXTRA_CA_CERTS: '/etc/corp-ca.pem' } });
    expect(r.status, r.stderr).toBe(0);
    const env = readFileSync(dump, 'utf8');
    expect(env).toMatch(/^FLOX_RUNTIME_EXTRA_CA_CERTS=\/etc\/corp-ca\.pem$/m);
    expect(env).not.toMatch(/^NODE_EXTRA_CA_CERTS=/m);
  });

  it('delegate from the config: a multi-line array, first existing wins', () => {
    const cfg = join(work, 'multi.toml');
    writeFileSync(cfg, `[floxhub]\ndelegate = ["nope"]\n[runtime]\ndelegate = [\n  "/nonexistent/crun",\n  "${join(fakeBin, 'runc')}",\n]\n`);
    const r = run(['state', ID], { env: { FLOX_RUNTIME_CONFIG: cfg } });
    expect(r.record?.pid).toBe(r.pid);
  });
});
