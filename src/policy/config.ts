// The `[policy]` table of the config file: who (namespace globs) may use what. Validated here;
// the decision itself is in decide.ts. No `[policy]`: mode "off", today's behaviour.
import { z } from 'zod';
import { goGlobToRegExp } from '../install/glob.js';

const compiles = (p: string) => {
  try {
    goGlobToRegExp(p);
    return true;
  } catch {
    return false;
  }
};
const glob = (what: string, re: RegExp) =>
  z
    .string()
    .regex(re, { message: `must be a ${what} glob` })
    .refine(compiles, { message: 'is not a valid glob' });
// namespaces are RFC 1123 labels; environments are owner/name (no generation), Go path globs
const namespaceGlob = glob('namespace', /^[a-z0-9*?[\]^-]{1,63}$/);
const environmentGlob = glob('owner/name', /^[^/\s:]+\/[^/\s:]+$/);
const substituter = z.string().refine((s) => /^(https?|file):\/\//.test(s), { message: 'must be a substituter URL' });

const RuleSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { message: 'must be a short name (letters, digits, _ . -)' }),
    namespaces: z.array(namespaceGlob).min(1),
    environments: z.array(environmentGlob).min(1),
    // restrictive defaults: a rule grants only what it says
    'node-token': z.boolean().optional(),
    'nix-mutable': z.boolean().optional(),
    pinned: z.boolean().optional(),
    substituters: z.array(substituter).optional(),
  })
  .strict();

export const PolicyFileSchema = z
  .object({
    mode: z.enum(['enforce', 'off']).optional(),
    default: z.enum(['deny', 'allow']).optional(),
    rule: z.array(RuleSchema).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    const names = new Set<string>();
    (p.rule ?? []).forEach((r, i) => {
      if (names.has(r.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['rule', i, 'name'], message: `duplicate rule name ${JSON.stringify(r.name)}` });
      names.add(r.name);
    });
  });

export type PolicyFile = z.infer<typeof PolicyFileSchema>;

export interface PolicyRule {
  name: string;
  namespaces: string[];
  environments: string[];
  nodeToken: boolean;
  nixMutable: boolean;
  pinned: boolean;
  /** undefined: every configured substituter */
  substituters?: string[];
}

export interface Policy {
  mode: 'enforce' | 'off';
  default: 'deny' | 'allow';
  rules: PolicyRule[];
}

const trim = (u: string) => u.replace(/\/+$/, '');

/** Fills the defaults and checks each rule's substituters against nix.substituters. */
export function resolvePolicy(file: PolicyFile | undefined, substituters: string[]): Policy {
  if (!file) return { mode: 'off', default: 'deny', rules: [] };
  const known = new Set(substituters.map(trim));
  const rules = (file.rule ?? []).map((r, i): PolicyRule => {
    for (const s of r.substituters ?? []) {
      if (!known.has(trim(s))) {
        throw new Error(`policy.rule.${i}.substituters: ${s} is not one of nix.substituters (${substituters.join(', ') || 'none'})`);
      }
    }
    return {
      name: r.name,
      namespaces: r.namespaces,
      environments: r.environments,
      nodeToken: r['node-token'] ?? false,
      nixMutable: r['nix-mutable'] ?? false,
      pinned: r.pinned ?? false,
      ...(r.substituters && { substituters: substituters.filter((s) => r.substituters!.some((a) => trim(a) === trim(s))) }),
    };
  });
  // a [policy] table means the operator wants it: enforced unless it says otherwise
  return { mode: file.mode ?? 'enforce', default: file.default ?? 'deny', rules };
}
