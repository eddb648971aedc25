import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../../src/oci/spec.js';
import { parseEnvironmentRef } from '../../../src/pod/environment-ref.js';
import { decide } from '../../../src/pod/request.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/specs');
const annotationsOf = (f: string) => parseSpec(readFileSync(join(FIXTURES, `${f}.json`), 'utf8')).annotations ?? {};

describe('decide on golden specs', () => {
  it.each([
    ['containerd-1.6-sandbox', 'skip', 'sandbox'],
    ['crio-1.30-sandbox', 'skip', 'sandbox'],
    ['containerd-1.6-helper', 'skip', 'skip-containers'],
    ['containerd-1.6-plain', 'skip', 'no-environment'],
  ])('%s -> %s (%s)', (f, action, reason) => {
    const d = decide(annotationsOf(f));
    expect(d.action).toBe(action);
    expect(d.action === 'skip' && d.reason).toBe(reason);
  });

  it.each(['containerd-1.6-build', 'containerd-1.7-build', 'containerd-2.0-build', 'crio-1.30-build'])('%s activates the GitLab build container', (f) => {
    const d = decide(annotationsOf(f));
    if (d.action !== 'activate') throw new Error(`expected activate, got ${JSON.stringify(d)}`);
    expect(d.request).toMatchObject({
      environment: { owner: 'acme', name: 'ci-tools' },
      mode: 'dev',
      skipContainers: ['init-permissions', 'helper'],
      skipContainersExec: ['build'],
      nixMutable: false,
      disableMetrics: false,
      containerType: 'container',
      containerName: 'build',
      sandboxNamespace: 'ci',
    });
  });
});

describe('annotation validation', () => {
  const app = { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.container-name': 'app', 'flox.dev/environment': 'o/n' };
  it.each([
    [{ 'flox.dev/environment': 'noslash' }, /invalid flox\.dev\/environment "noslash".*expected owner\/name/],
    [{ 'flox.dev/environment': '../etc' }, /invalid flox\.dev\/environment "\.\.\/etc".*bad owner/],
    [{ 'flox.dev/environment': 'o/..' }, /bad environment name/],
    [{ 'flox.dev/environment': 'o/n:0' }, /bad generation "0"/],
    [{ 'flox.dev/environment': 'o/n:x' }, /bad generation "x"/],
    [{ 'flox.dev/environment': 'o/a/b' }, /not of the form owner\/name/],
    [{ 'flox.dev/activate-mode': 'build' }, /invalid flox\.dev\/activate-mode "build": expected "run" or "dev"/],
    [{ 'flox.dev/nix-mutable': 'yes' }, /invalid flox\.dev\/nix-mutable "yes": expected "true" or "false"/],
    [{ 'flox.dev/disable-metrics': '1' }, /invalid flox\.dev\/disable-metrics "1"/],
    [{ 'flox.dev/skip-containers': 'a,B_c' }, /invalid flox\.dev\/skip-containers "a,B_c": expected a comma-separated list/],
    [{ 'flox.dev/enviroment': 'o/n' }, /unknown annotation flox\.dev\/enviroment/],
  ])('%j is rejected naming the annotation, the value and the form', (extra, msg) => {
    expect(() => decide({ ...app, ...extra })).toThrow(msg);
  });

  it('accepts spaces in lists, upper-case booleans and a pinned generation', () => {
    const d = decide({ ...app, 'flox.dev/environment': 'flox/echoip:12', 'flox.dev/skip-containers': ' a , b,', 'flox.dev/nix-mutable': 'TRUE' });
    expect(d).toMatchObject({ action: 'activate', request: { environment: { owner: 'flox', name: 'echoip', generation: 12 }, skipContainers: ['a', 'b'], nixMutable: true, mode: 'run' } });
  });

  it('does not validate annotations of the sandbox (the pause container runs nothing of ours)', () => {
    expect(decide({ 'io.kubernetes.cri.container-type': 'sandbox', 'flox.dev/environment': 'bad' })).toMatchObject({ action: 'skip', reason: 'sandbox' });
  });
});

describe('parseEnvironmentRef', () => {
  it('parses owner/name and owner/name:N', () => {
    expect(parseEnvironmentRef('flox/echoip')).toEqual({ owner: 'flox', name: 'echoip' });
    expect(parseEnvironmentRef('my-org/py.3_env:7')).toEqual({ owner: 'my-org', name: 'py.3_env', generation: 7 });
  });
  it.each(['', '/', 'a/', '/b', 'a/b:', 'a/b.lock', 'a/.b', '-a/b', 'a b/c', 'a/b\nc', 'a/b:1:2', `a/${'x'.repeat(101)}`])('rejects %j', (v) => {
    expect(() => parseEnvironmentRef(v)).toThrow(/invalid flox\.dev\/environment/);
  });
});
