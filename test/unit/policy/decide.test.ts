// The node policy's decision, table-driven: the first rule whose namespace globs match decides;
// no match falls to policy.default; an untrusted namespace never matches anything.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { decidePolicy, describeRule, type PolicyInput } from '../../../src/policy/decide.js';

const config = parseConfig(
  `[nix]\nsubstituters = ["https://cache.flox.dev", "https://cache.nixos.org"]\n` +
    `[policy]\n` +
    `[[policy.rule]]\nname = "ci"\nnamespaces = ["ci-*", "gitlab"]\nenvironments = ["acme/*", "tools/ci-base"]\npinned = true\nsubstituters = ["https://cache.flox.dev/"]\n` +
    `[[policy.rule]]\nname = "dev"\nnamespaces = ["dev-?"]\nenvironments = ["*/*"]\nnode-token = true\nnix-mutable = true\n` +
    `[[policy.rule]]\nname = "ci-late"\nnamespaces = ["ci-x"]\nenvironments = ["*/*"]\n`,
  'policy.toml',
);

const req = (ns: string | undefined, env: string, extra: Partial<PolicyInput> = {}): PolicyInput => {
  const [owner, rest] = env.split('/') as [string, string];
  const [name, gen] = rest.split(':') as [string, string | undefined];
  return { environment: { owner, name, ...(gen && { generation: Number(gen) }) }, nixMutable: false, ...(ns !== undefined && { sandboxNamespace: ns }), ...extra };
};

describe('policy decision', () => {
  it.each([
    // namespace, environment, extra, allowed, rule, reason
    ['ci-1', 'acme/build:3', {}, true, 'policy rule "ci"', undefined],
    ['gitlab', 'tools/ci-base:1', {}, true, 'policy rule "ci"', undefined],
    ['ci-x', 'other/x:1', {}, false, 'policy rule "ci"', /environment other\/x is not allowed in namespace ci-x \(allowed: acme\/\*, tools\/ci-base\)/], // first match decides, not ci-late
    ['ci-1', 'acme/build', {}, false, 'policy rule "ci"', /must pin a generation: use acme\/build:N/],
    ['ci-1', 'acme/build:3', { nixMutable: true }, false, 'policy rule "ci"', /flox.dev\/nix-mutable is not allowed in namespace ci-1/],
    ['ci-1', 'acmex/build:1', {}, false, 'policy rule "ci"', /environment acmex\/build is not allowed/], // a glob matches the whole owner
    ['dev-a', 'anyone/thing', { nixMutable: true }, true, 'policy rule "dev"', undefined],
    ['dev-ab', 'anyone/thing', {}, false, 'the policy default (no rule matches the namespace)', /no policy rule matches namespace dev-ab and policy.default is "deny"/],
    ['kube-system', 'acme/build:3', {}, false, 'the policy default (no rule matches the namespace)', /no policy rule matches/],
    [undefined, 'acme/build:3', { namespaceProblem: 'the namespace keys disagree (…)' }, false, 'the policy (namespace not trusted)', /namespace keys disagree/],
  ] as const)('%s asking for %s (%o): allowed %s by %s', (ns, env, extra, allowed, rule, reason) => {
    const d = decidePolicy(req(ns, env, extra), config.policy);
    expect(d.allowed).toBe(allowed);
    expect(describeRule(d.rule)).toBe(rule);
    if (!d.allowed) expect(d.reason).toMatch(reason!);
  });

  it('a rule leaves the node token only when it says so, and only its substituters', () => {
    const ci = decidePolicy(req('ci-1', 'acme/b:1'), config.policy);
    expect(ci).toMatchObject({ allowed: true, nodeToken: false, substituters: ['https://cache.flox.dev'] });
    const dev = decidePolicy(req('dev-a', 'acme/b'), config.policy);
    expect(dev).toMatchObject({ allowed: true, nodeToken: true });
    expect(dev).not.toHaveProperty('substituters');
  });

  it('without [policy] everything is allowed as before, namespace or not', () => {
    const none = parseConfig('', 'x.toml').policy;
    expect(none.mode).toBe('off');
    expect(decidePolicy(req(undefined, 'x/y', { nixMutable: true }), none)).toEqual({ allowed: true, rule: { kind: 'off' }, nodeToken: true });
  });

  it('default = "allow" lets an unmatched namespace through with the node token; a rule still refuses', () => {
    const p = parseConfig(`[policy]\ndefault = "allow"\n[[policy.rule]]\nname = "locked"\nnamespaces = ["prod"]\nenvironments = ["acme/app"]\n`, 'x.toml').policy;
    expect(decidePolicy(req('other', 'x/y'), p)).toMatchObject({ allowed: true, rule: { kind: 'default' }, nodeToken: true });
    expect(decidePolicy(req('prod', 'x/y'), p)).toMatchObject({ allowed: false, rule: { kind: 'rule', name: 'locked' } });
    // an untrusted namespace is refused even so: the default is for namespaces no rule names
    expect(decidePolicy(req(undefined, 'x/y', { namespaceProblem: 'p' }), p).allowed).toBe(false);
  });

  it('mode = "off" keeps the rules but applies none', () => {
    const p = parseConfig(`[policy]\nmode = "off"\n[[policy.rule]]\nname = "r"\nnamespaces = ["*"]\nenvironments = ["a/b"]\n`, 'x.toml').policy;
    expect(decidePolicy(req('ns', 'x/y'), p).allowed).toBe(true);
  });
});

describe('[policy] config', () => {
  it.each([
    ['[policy]\nmode = "audit"', /policy\.mode/],
    ['[policy]\n[[policy.rule]]\nname = "r"\nnamespaces = ["a"]', /policy\.rule\.0\.environments: Required/],
    ['[policy]\n[[policy.rule]]\nname = "r"\nnamespaces = ["a"]\nenvironments = ["acme"]', /policy\.rule\.0\.environments\.0: must be a owner\/name glob/],
    ['[policy]\n[[policy.rule]]\nname = "r"\nnamespaces = ["a"]\nenvironments = ["acme/x:3"]', /must be a owner\/name glob/],
    ['[policy]\n[[policy.rule]]\nname = "r"\nnamespaces = ["Big/NS"]\nenvironments = ["a/b"]', /policy\.rule\.0\.namespaces\.0: must be a namespace glob/],
    ['[policy]\n[[policy.rule]]\nname = "r"\nnamespaces = ["a"]\nenvironments = ["a/[z-a]"]', /is not a valid glob/],
    ['[policy]\n[[policy.rule]]\nname = "r"\nnamespaces = ["a"]\nenvironments = ["a/b"]\nnode_token = true', /Unrecognized key/],
    ['[policy]\n[[policy.rule]]\nname = "r"\nnamespaces = ["a"]\nenvironments = ["a/b"]\n[[policy.rule]]\nname = "r"\nnamespaces = ["b"]\nenvironments = ["a/b"]', /duplicate rule name "r"/],
    ['[policy]\n[[policy.rule]]\nname = "r"\nnamespaces = ["a"]\nenvironments = ["a/b"]\nsubstituters = ["https://elsewhere.example"]', /policy\.rule\.0\.substituters: https:\/\/elsewhere\.example is not one of nix\.substituters/],
  ])('rejects %j clearly', (text, msg) => {
    expect(() => parseConfig(text, '/etc/flox-runtime/config.toml')).toThrow(msg);
    expect(() => parseConfig(text, '/etc/flox-runtime/config.toml')).toThrow(/config file \/etc\/flox-runtime\/config\.toml is invalid/);
  });

  it('a rule grants nothing it does not name: no node token, no nix-mutable, no pin required', () => {
    const p = parseConfig(`[policy]\n[[policy.rule]]\nname = "r"\nnamespaces = ["a"]\nenvironments = ["a/b"]\n`, 'x.toml').policy;
    expect(p).toEqual({ mode: 'enforce', default: 'deny', rules: [{ name: 'r', namespaces: ['a'], environments: ['a/b'], nodeToken: false, nixMutable: false, pinned: false }] });
  });
});
