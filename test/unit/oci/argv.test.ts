import { describe, expect, it } from 'vitest';
import { bundleDir, isValidContainerId, parseRuncArgv, runcUsageProblem } from '../../../src/oci/argv.js';

const ID = '070ca25f9b3a';
const TASK = `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${ID}`;

describe('parseRuncArgv', () => {
  const cases: Array<{ name: string; argv: string[]; want: Partial<ReturnType<typeof parseRuncArgv>> & { root?: string; log?: string } }> = [
    {
      name: 'containerd shim create',
      argv: ['--root', '/run/containerd/runc/k8s.io', '--log', `${TASK}/log.json`, '--log-format', 'json', 'create', '--bundle', TASK, '--pid-file', `${TASK}/init.pid`, ID],
      want: { command: 'create', bundle: TASK, id: ID, pidFile: `${TASK}/init.pid`, root: '/run/containerd/runc/k8s.io', log: `${TASK}/log.json` },
    },
    {
      name: 'CRI-O style --root= and no --log',
      argv: ['--root=/run/runc', '--systemd-cgroup', 'create', '--bundle=/b', '--pid-file=/b/pid', ID],
      want: { command: 'create', bundle: '/b', id: ID, root: '/run/runc', log: undefined },
    },
    { name: 'NVIDIA: -b create create (-b is no global flag: runc sees subcommand create, id create)', argv: ['-b', 'create', 'create'], want: { command: 'create', bundle: undefined, id: 'create' } },
    { name: '-b create create after subcommand', argv: ['create', '-b', 'create', 'create'], want: { command: 'create', bundle: 'create', id: 'create' } },
    { name: 'empty --bundle=', argv: ['create', '--bundle=', ID], want: { command: 'create', bundle: '', id: ID } },
    { name: 'single-dash -bundle', argv: ['create', '-bundle', '/x', ID], want: { command: 'create', bundle: '/x', id: ID } },
    { name: '-b=/foo/=bar', argv: ['create', '-b=/foo/=bar', ID], want: { command: 'create', bundle: '/foo/=bar', id: ID } },
    { name: '-- before id', argv: ['create', '--bundle', '/b', '--', ID], want: { command: 'create', bundle: '/b', id: ID } },
    { name: '-- before subcommand', argv: ['--root', '/r', '--', 'start', ID], want: { command: 'start', id: ID, root: '/r' } },
    {
      name: 'shim exec',
      argv: ['--root', '/r', '--log', '/t/log.json', '--log-format', 'json', 'exec', '--process', '/tmp/runc-process123', '--detach', '--pid-file', '/t/e.pid', ID],
      want: { command: 'exec', processFile: '/tmp/runc-process123', id: ID, pidFile: '/t/e.pid' },
    },
    { name: 'exec with command after id', argv: ['exec', '-t', ID, 'sh', '-c', 'ls'], want: { command: 'exec', id: ID, commandArgs: ['-t', ID, 'sh', '-c', 'ls'] } },
    { name: 'exec -p=', argv: ['exec', '-p=/p.json', ID], want: { command: 'exec', processFile: '/p.json', id: ID } },
    { name: 'kill --all', argv: ['--root', '/r', 'kill', '--all', ID, '9'], want: { command: 'kill', id: ID } },
    { name: 'delete --force', argv: ['delete', '--force', ID], want: { command: 'delete', id: ID } },
    { name: '--version', argv: ['--version'], want: { command: '' } },
    { name: 'global flags after --debug', argv: ['--debug', '--rootless=false', '--criu', '/c', 'state', ID], want: { command: 'state', id: ID } },
    { name: 'no argv', argv: [], want: { command: '', commandArgs: [] } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = parseRuncArgv(c.argv);
      const { root, log, bundle, ...rest } = c.want;
      expect(got).toMatchObject(rest);
      if ('bundle' in c.want) expect(got.bundle).toBe(bundle);
      if ('root' in c.want) expect(got.globals.root).toBe(root);
      if ('log' in c.want) expect(got.globals.log).toBe(log);
    });
  }

  it('keeps --debug and --systemd-cgroup', () => {
    const g = parseRuncArgv(['--debug', '--systemd-cgroup', 'create', ID]).globals;
    expect(g.debug).toBe(true);
    expect(g.systemdCgroup).toBe(true);
  });

  it('a trailing value flag with no value is noted, for runc to refuse in its own words (runc: "flag needs an argument")', () => {
    expect(parseRuncArgv(['create', '--bundle']).missingValue).toBe('bundle');
    expect(parseRuncArgv(['--root'])).toMatchObject({ command: '', missingValue: 'root' });
  });
});

describe('bundleDir', () => {
  it('uses the cwd when there is no --bundle, or an empty one', () => {
    expect(bundleDir(parseRuncArgv(['create', ID]), '/sandbox')).toBe('/sandbox');
    expect(bundleDir(parseRuncArgv(['create', '--bundle=', ID]), '/sandbox')).toBe('/sandbox');
  });
  it('resolves a relative bundle against the cwd', () => {
    expect(bundleDir(parseRuncArgv(['create', '-b', 'b1', ID]), '/base/')).toBe('/base/b1');
  });
});

describe('isValidContainerId', () => {
  it.each([['abc', true], ['a.b_c+d-e', true], ['..', false], ['.', false], ['a/b', false], ['', false], ['a b', false]])('%s -> %s', (id, ok) => {
    expect(isValidContainerId(id)).toBe(ok);
  });
});

describe('runcUsageProblem: an argv runc itself refuses or answers with help', () => {
  it.each([
    [['create', '-h'], 'help'],
    [['create', 'id', '--help'], 'help'],
    [['exec', '-h', 'id'], 'help'],
    [['exec', 'id', 'ls', '-h'], undefined], // -h belongs to the process
    [['create', '--bogus', 'id'], 'unknown-flag'],
    [['run', '-d', '--keep', 'id'], undefined],
    [['exec', '-t', '--no-new-privs', 'id', 'sh'], undefined],
    [['exec', '--bogus', 'id', 'sh'], 'unknown-flag'],
    [['create', '--bundle'], 'missing-value'],
    [['create', '--bundle', '/b'], 'no-id'],
    [['create', '--bundle', '/b', 'id'], undefined],
    [['start', 'id'], undefined],
  ] as const)('%j -> %s', (argv, expected) => {
    expect(runcUsageProblem(parseRuncArgv(argv))).toBe(expected);
  });
});
