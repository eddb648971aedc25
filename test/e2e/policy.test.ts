// The node policy over CRI: a pod the policy allows runs; one it refuses fails StartContainer
// with the deciding rule in the error (what kubectl describe shows) and causes no FloxHub or
// cache request at all; a namespace no rule names is refused by the fail-closed default; a rule
// without node-token does not lend the node-wide token to a pod without its own.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CriError } from './support/cri.js';
import { startFloxLab, type FloxLab } from './support/flox-lab.js';
import { e2eGate } from './support/gate.js';
import { EMPTY_IMAGE } from './support/images.js';

const gate = e2eGate('the node policy over CRI');
const ENV = 'flox.dev/environment';
const DEAD_CACHE = 'http://127.0.0.1:1/dead-cache';

describe.skipIf(gate.skip)(gate.title, () => {
  let f: FloxLab;
  let n = 0;

  beforeAll(async () => {
    f = await startFloxLab({
      // a second substituter nothing answers on: the only one the rule "narrow" leaves its pods
      substituters: async (hub) => [`${hub.url}/cache-zstd`, DEAD_CACHE],
      extraConfig:
        `[policy]\ndefault = "deny"\n` +
        `[[policy.rule]]\nname = "ci"\nnamespaces = ["ci-*"]\nenvironments = ["public-owner/hello", "private-owner/*"]\n` +
        `[[policy.rule]]\nname = "trusted"\nnamespaces = ["trusted"]\nenvironments = ["*/*"]\nnode-token = true\n` +
        `[[policy.rule]]\nname = "narrow"\nnamespaces = ["narrow"]\nenvironments = ["*/*"]\nsubstituters = ["${DEAD_CACHE}"]\n`,
    });
    // the node-wide token (floxhub.token-file) reaches private-owner's environments
    const tokenFile = join(f.work, 'node-token');
    writeFileSync(tokenFile, `${f.hub.token}\n`);
    writeFileSync(f.configPath, writeTokenFile(tokenFile));
  }, 240_000);
  afterAll(async () => {
    if (f) expect(await f.stop()).toEqual([]);
  });

  /** Puts floxhub.token-file into the lab's [floxhub] table (the runtime reads the config per start). */
  function writeTokenFile(tokenFile: string): string {
    return readFileSync(f.configPath, 'utf8').replace('[floxhub]\n', `[floxhub]\ntoken-file = "${tokenFile}"\n`);
  }

  async function start(namespace: string, environment: string, command = ['hello']): Promise<{ lines?: string[]; error?: string }> {
    return f.lab.kubelet.withPod({ name: `policy-${++n}`, namespace, handler: 'flox', annotations: { [ENV]: environment } }, async (pod) => {
      try {
        const c = await f.lab.kubelet.run(pod, { name: 'app', image: EMPTY_IMAGE, command });
        await f.lab.kubelet.waitForExit(c);
        return { lines: f.lab.kubelet.readLog(c).map((l) => l.line) };
      } catch (e) {
        if (e instanceof CriError) return { error: e.details };
        throw e;
      }
    });
  }

  it('a pod the policy allows runs, and its activated line names the rule', async () => {
    expect(await start('ci-1', 'public-owner/hello')).toEqual({ lines: ['Hello, world!'] });
    expect(f.activations().at(-1)).toMatchObject({ environment: 'public-owner/hello', namespace: 'ci-1', policy: 'ci', auth: 'none' });
  });

  it('a pod asking for an environment its rule does not list is refused with the rule named, before any request', async () => {
    f.hub.resetRequests();
    const r = await start('ci-2', 'public-owner/multi');
    expect(r.error).toMatch(/flox: policy rule "ci" refuses public-owner\/multi for container app of pod ci-2\/policy-\d+: environment public-owner\/multi is not allowed in namespace ci-2 \(allowed: public-owner\/hello, private-owner\/\*\)/);
    expect(f.hub.requests()).toBe(0);
  });

  it('a namespace no rule names is refused by the fail-closed default, before any request', async () => {
    f.hub.resetRequests();
    const r = await start('default', 'public-owner/hello');
    expect(r.error).toMatch(/flox: the policy default \(no rule matches the namespace\) refuses public-owner\/hello .*: no policy rule matches namespace default and policy\.default is "deny"/);
    expect(f.hub.requests()).toBe(0);
  });

  it('the node token reaches a private environment only where the rule allows it', async () => {
    const denied = await start('ci-3', 'private-owner/secret');
    expect(denied.error).toMatch(/private-owner/);
    expect(denied.error).toMatch(/the policy rule ci does not let this namespace use the node token \(floxhub\.token-file\): give the pod its own floxhub-token secret/);
    expect(await start('trusted', 'private-owner/secret')).toEqual({ lines: ['Hello, world!'] });
    expect(f.activations().at(-1)).toMatchObject({ environment: 'private-owner/secret', policy: 'trusted', auth: 'config' });
  });

  it('a rule\'s substituters are the only ones its pods fetch from', async () => {
    // public-owner/priority's paths are on no pod's path yet: the node must fetch them
    const narrow = await start('narrow', 'public-owner/priority', ['tool']);
    expect(narrow.error).toMatch(/127\.0\.0\.1:1\/dead-cache/);
    expect(narrow.error).not.toMatch(/cache-zstd/);
    expect(await start('trusted', 'public-owner/priority', ['tool'])).toEqual({ lines: ['tool-b'] });
  });
});
