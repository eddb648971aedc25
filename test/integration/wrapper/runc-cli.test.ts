// runc's own command line, through bin/flox-runtime, against the real runc of this machine:
// help, unknown commands and bad flags must come out exactly as runc prints them (stdout,
// stderr less its time stamps, exit status), so that people and tools that know runc (its
// tests/integration/help.bats, an operator typing `create -h`) see runc. runc is invoked by the
// path the front end execs, since runc names itself by argv[0] in its messages.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDelegate } from '../../../src/oci/delegate.js';
import { buildProgram } from '../../../src/cli/operator.js';
import { FRONTEND, REPO } from '../../support/paths.js';

let work: string;
let runc: string;
let config: string;

interface Out {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** runc's logrus lines carry the time: the only part allowed to differ. */
const untimed = (s: string) => s.replace(/time="[^"]+"/g, 'time=T');

function run(file: string, argv: string[]): Out {
  const r = spawnSync(file, argv, {
    cwd: work, // holds a config.json that asks for an environment: help must never read it
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', FLOX_RUNTIME_CONFIG: config },
  });
  return { status: r.status, stdout: r.stdout, stderr: untimed(r.stderr) };
}

function expectLikeRunc(argv: string[]): Out {
  const ours = run(FRONTEND, argv);
  const theirs = run(runc, argv);
  expect({ argv, ...ours }).toEqual({ argv, ...theirs });
  return ours;
}

const RUNC_SUBCOMMANDS = ['checkpoint', 'create', 'delete', 'events', 'exec', 'init', 'kill', 'list', 'pause', 'ps', 'restore', 'resume', 'run', 'spec', 'start', 'state', 'update', 'features'];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'flox-runc-cli-'));
  runc = findDelegate(['runc']);
  copyFileSync(join(REPO, 'test/fixtures/specs/containerd-1.6-build.json'), join(work, 'config.json'));
  config = join(work, 'config.toml');
  writeFileSync(config, `[runtime]\ndelegate = ["${runc}"]\nstate-dir = "${join(work, 'state')}"\n[log]\nfile = "${join(work, 'log')}"\n`);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("runc's help, byte for byte (runc tests/integration/help.bats)", () => {
  it.each(RUNC_SUBCOMMANDS.flatMap((c) => [[c, '-h'], [c, '--help']]))('%s %s prints runc\'s help and exits as runc does', (c, flag) => {
    const out = expectLikeRunc([c, flag]);
    if (c !== 'init') expect(out.stdout.split('\n')[1]).toMatch(new RegExp(`runc ${c}`));
  });

  it('create and run take -h after the container id too (urfave/cli reorders their flags); exec does not', () => {
    expectLikeRunc(['create', 'some-id', '-h']);
    expectLikeRunc(['run', '--bundle', work, 'some-id', '--help']);
    expectLikeRunc(['exec', 'no-such-container', 'ls', '-h']); // -h belongs to the process: runc says the container does not exist
  });

  it('help <runc command> is runc\'s', () => {
    for (const c of ['create', 'exec', 'list']) expectLikeRunc(['help', c]);
  });
});

describe('unknown commands and bad flags exit as runc does', () => {
  it('an unknown command: runc\'s "No help topic" and exit 3', () => {
    const out = expectLikeRunc(['no-such-command']);
    expect(out.status).toBe(3);
  });

  it.each([
    [['create', '--bogus', 'id']],
    [['create', 'id', '--bogus']],
    [['run', '--bogus=1', 'id']],
    [['exec', '--bogus', 'id', 'true']],
    [['create']],
    [['create', '--bundle']],
    [['run', '-d']],
    [['--bogus-global', 'list']],
    [['--root']],
    [['list', '--root']],
  ])('%j', (argv) => {
    const out = expectLikeRunc(argv);
    expect(out.status).not.toBe(0);
  });
});

describe('what only flox-runtime adds', () => {
  it('--help, -h, help and no argument keep runc\'s first two lines, then list every operator command and say that runc\'s are accepted', () => {
    const operators = buildProgram().commands.map((c) => c.name());
    for (const argv of [['--help'], ['-h'], ['help'], []]) {
      const out = run(FRONTEND, argv);
      expect(out.status).toBe(0);
      const lines = out.stdout.split('\n');
      expect(lines[0]).toMatch(/NAME:+/); // help.bats: [[ ${lines[0]} =~ NAME:+ ]]
      expect(lines[1]).toMatch(/runc - Open Container Initiative runtime+/); // help.bats: lines[1]
      const section = out.stdout.slice(out.stdout.indexOf('OPERATOR COMMANDS:'), out.stdout.indexOf('RUNC COMMANDS:'));
      for (const name of operators) expect(section).toMatch(new RegExp(`^   ${name} `, 'm'));
      expect(out.stdout).toMatch(/Every runc command is accepted/);
      // the runc commands listed are the delegate's own
      const runcSection = out.stdout.slice(out.stdout.indexOf('RUNC COMMANDS:'));
      for (const c of ['create', 'exec', 'checkpoint', 'features']) expect(runcSection).toMatch(new RegExp(`^   ${c} `, 'm'));
    }
  });

  it('help <operator command> prints that command\'s usage (runc would say "No help topic")', () => {
    for (const c of ['doctor', 'env', 'install', 'gc', 'explain']) {
      const out = run(FRONTEND, ['help', c]);
      expect({ c, status: out.status }).toEqual({ c, status: 0 });
      expect(out.stdout).toMatch(new RegExp(`^Usage: flox-runtime ${c} `));
    }
  });

  it('--version and -v show flox-runtime\'s version and then the delegate\'s, verbatim', () => {
    const theirs = run(runc, ['--version']).stdout;
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    for (const flag of ['--version', '-v']) {
      const out = run(FRONTEND, [flag]);
      expect(out.status).toBe(0);
      expect(out.stdout).toBe(`flox-runtime version ${version}\n${theirs}`);
    }
  });
});
