// How the policy shows: explain names the rule that decided; doctor warns when a node shared by
// several namespaces has none.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { floxNamespaces } from '../../../src/ops/doctor-probes.js';
import { judgePolicy } from '../../../src/ops/doctor.js';
import { formatBundleExplanation, formatContainerExplanation } from '../../../src/ops/explain-format.js';

const base = { kind: 'bundle' as const, bundle: '/b', container: 'container app of pod ci-1/job', decision: 'activate' as const, reason: 'flox.dev/environment names acme/x', environment: 'acme/x', mode: 'run' };

describe('explain', () => {
  it('names the rule that allowed or refused, and what an allowing rule withholds', () => {
    expect(formatBundleExplanation({ ...base, policy: { rule: 'policy rule "ci"', allowed: true, nodeToken: false, substituters: ['https://cache.flox.dev'] } })).toContain(
      'policy:    allowed by policy rule "ci" (no node token; substituters https://cache.flox.dev)',
    );
    expect(formatBundleExplanation({ ...base, policy: { rule: 'the policy default (no rule matches the namespace)', allowed: false, reason: 'no policy rule matches namespace ci-1' } })).toContain(
      'policy:    refused by the policy default (no rule matches the namespace): no policy rule matches namespace ci-1',
    );
    expect(formatBundleExplanation({ ...base, policy: { rule: 'no policy', allowed: true, nodeToken: true } })).toContain('policy:    none configured ([policy]): every pod may use everything');
    expect(formatContainerExplanation({ kind: 'container', id: 'c1', root: '/r', notes: [], activated: { environment: 'acme/x', generation: 1, policy: 'ci' } })).toMatch(/, policy ci$/m);
  });
});

describe('doctor', () => {
  const off = { mode: 'off' as const, default: 'deny' as const, rules: [] };
  it('warns without a policy when flox containers of several namespaces share the node', () => {
    const r = judgePolicy(off, true, ['ci', 'team-a']);
    expect(r).toMatchObject({ name: 'policy', status: 'warn' });
    expect(r.detail).toMatch(/no \[policy\]: every pod may use every environment, nix-mutable and every substituter, and the node token \(floxhub\.token-file\); flox containers of 2 namespace\(s\) on this node \(ci, team-a\)/);
  });
  it('passes, saying what no policy means, with one namespace or none; and reports an enforced one', () => {
    expect(judgePolicy(off, false, ['ci'])).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^no \[policy\]: .*substituter; flox containers of 1 namespace/) });
    expect(judgePolicy({ mode: 'enforce', default: 'deny', rules: [{}] }, true, [])).toEqual({ name: 'policy', status: 'pass', detail: 'enforced: 1 rule(s), default deny' });
  });
});

describe('doctor: namespaces of flox containers on the node', () => {
  it('are read from the bundles runc knows, trusting only the runtime\'s keys', () => {
    const h = mkdtempSync(join(tmpdir(), 'doctor-ns-'));
    const container = (id: string, annotations: Record<string, string>) => {
      const bundle = `/bundles/${id}`;
      mkdirSync(join(h, 'run/runc', id), { recursive: true });
      writeFileSync(join(h, 'run/runc', id, 'state.json'), JSON.stringify({ config: { labels: [`bundle=${bundle}`] } }));
      mkdirSync(join(h, bundle), { recursive: true });
      writeFileSync(join(h, bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations }));
    };
    container('a', { 'flox.dev/environment': 'o/e', 'io.kubernetes.cri.sandbox-namespace': 'team-a' });
    container('b', { 'flox.dev/environment': 'o/e', 'io.kubernetes.pod.namespace': 'team-b' });
    container('c', { 'io.kubernetes.cri.sandbox-namespace': 'not-flox' });
    container('d', { 'flox.dev/environment': 'o/e', 'io.kubernetes.pod.namespace': 'team-b', 'io.kubernetes.cri.sandbox-namespace': 'forged' });
    expect(floxNamespaces(h, ['/run/runc', '/run/none'])).toEqual(['team-a', 'team-b']);
  });
});
