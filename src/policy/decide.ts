// The policy decision for one container, pure: the first rule whose namespace globs match the
// pod's namespace decides; its environments, pin and nix-mutable rules then allow or refuse.
// No rule matches: `default` (deny unless said otherwise). Everything it needs is known from
// the request alone, so it runs before any network request or write.
import { goGlobMatch } from '../install/glob.js';
import type { PodRequest } from '../pod/request.js';
import type { Policy, PolicyRule } from './config.js';

/** What decided, for errors, the `activated` log line and `explain`. */
export type RuleRef = { kind: 'off' } | { kind: 'rule'; name: string } | { kind: 'default' } | { kind: 'namespace' };

export type PolicyDecision =
  | { allowed: true; rule: RuleRef; nodeToken: boolean; substituters?: string[] }
  | { allowed: false; rule: RuleRef; reason: string };

export type PolicyInput = Pick<PodRequest, 'environment' | 'nixMutable' | 'sandboxNamespace' | 'namespaceProblem'>;

export function describeRule(r: RuleRef): string {
  switch (r.kind) {
    case 'off':
      return 'no policy';
    case 'rule':
      return `policy rule ${JSON.stringify(r.name)}`;
    case 'default':
      return 'the policy default (no rule matches the namespace)';
    case 'namespace':
      return 'the policy (namespace not trusted)';
  }
}

function byRule(rule: PolicyRule, req: PolicyInput, namespace: string): PolicyDecision {
  const ref: RuleRef = { kind: 'rule', name: rule.name };
  const env = `${req.environment.owner}/${req.environment.name}`;
  const deny = (reason: string): PolicyDecision => ({ allowed: false, rule: ref, reason });
  if (!rule.environments.some((p) => goGlobMatch(p, env))) {
    return deny(`environment ${env} is not allowed in namespace ${namespace} (allowed: ${rule.environments.join(', ')})`);
  }
  if (rule.pinned && req.environment.generation === undefined) {
    return deny(`namespace ${namespace} must pin a generation: use ${env}:N in flox.dev/environment`);
  }
  if (req.nixMutable && !rule.nixMutable) return deny(`flox.dev/nix-mutable is not allowed in namespace ${namespace}`);
  return { allowed: true, rule: ref, nodeToken: rule.nodeToken, ...(rule.substituters && { substituters: rule.substituters }) };
}

export function decidePolicy(req: PolicyInput, policy: Policy | undefined): PolicyDecision {
  if (!policy || policy.mode === 'off') return { allowed: true, rule: { kind: 'off' }, nodeToken: true };
  const namespace = req.sandboxNamespace;
  // with a policy, a namespace the runtime did not vouch for never matches a rule, nor the default
  if (namespace === undefined) {
    return { allowed: false, rule: { kind: 'namespace' }, reason: req.namespaceProblem ?? 'the pod has no namespace' };
  }
  const rule = policy.rules.find((r) => r.namespaces.some((p) => goGlobMatch(p, namespace)));
  if (rule) return byRule(rule, req, namespace);
  if (policy.default === 'allow') return { allowed: true, rule: { kind: 'default' }, nodeToken: true };
  return { allowed: false, rule: { kind: 'default' }, reason: `no policy rule matches namespace ${namespace} and policy.default is "deny"` };
}
