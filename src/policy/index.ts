// Applying the policy: a refusal is a FloxError naming the rule (what kubectl describe shows);
// an allowed pod gets the token sources and substituters the rule leaves it.
import type { Config } from '../config/schema.js';
import { FloxError } from '../errors.js';
import { formatEnvironmentRef } from '../pod/environment-ref.js';
import { describeContainer, type PodRequest } from '../pod/request.js';
import { decidePolicy, describeRule, type PolicyDecision } from './decide.js';

export { decidePolicy, describeRule, type PolicyDecision, type RuleRef } from './decide.js';

export type Allowed = Extract<PolicyDecision, { allowed: true }>;

/** The decision, or a `policy` FloxError when the pod is refused. */
export function enforcePolicy(request: PodRequest, config: Config, containerId?: string): Allowed {
  const d = decidePolicy(request, config.policy);
  if (d.allowed) return d;
  throw new FloxError(
    'policy',
    `${describeRule(d.rule)} refuses ${formatEnvironmentRef(request.environment)} for ${describeContainer(request, containerId)}: ${d.reason}`,
  );
}

/** The node-wide token file, unless the rule withholds it (the pod then has only its own token). */
export function nodeTokenFile(config: Config, allowed: Allowed): string | undefined {
  return allowed.nodeToken && config.floxhub.tokenFile ? config.floxhub.tokenFile : undefined;
}

/** The substituters this pod's closure may be fetched from. */
export function substitutersFor(config: Config, allowed: Allowed): string[] {
  return allowed.substituters ?? config.nix.substituters;
}

/** One short field for the `activated` log line and `explain`. */
export function ruleField(d: PolicyDecision): string {
  return d.rule.kind === 'rule' ? d.rule.name : `(${d.rule.kind})`;
}
