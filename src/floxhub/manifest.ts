// manifest.toml (and the `manifest` object inside manifest.lock), validated only as far as the
// runtime uses it: which outputs to link, priorities, [vars], hooks, profile scripts and the
// activation mode. Unknown tables (services, build, containerize, plugins...) pass through.
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { issues } from './metadata.js';

const Descriptor = z
  .object({
    'pkg-path': z.union([z.string(), z.array(z.string())]).optional(),
    flake: z.string().optional(),
    'store-path': z.string().optional(),
    systems: z.array(z.string()).optional(),
    priority: z.number().int().min(0).optional(),
    outputs: z.union([z.literal('all'), z.array(z.string())]).optional(),
  })
  .passthrough();

const Scripts = z
  .object({
    common: z.string().optional(),
    bash: z.string().optional(),
    zsh: z.string().optional(),
    fish: z.string().optional(),
    tcsh: z.string().optional(),
  })
  .passthrough();

export const ManifestSchema = z
  .object({
    version: z.literal(1).optional(),
    'schema-version': z.string().regex(/^1\.\d+(\.\d+)?$/).optional(),
    install: z.record(Descriptor).default({}),
    vars: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
    hook: z
      .object({ 'on-activate': z.string().optional(), 'on-deactivate': z.string().optional(), script: z.string().optional() })
      .passthrough()
      .optional(),
    profile: Scripts.optional(),
    options: z
      .object({
        systems: z.array(z.string()).optional(),
        activate: z.object({ mode: z.enum(['dev', 'run']).optional() }).passthrough().optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough()
  .refine((m) => m.version !== undefined || m['schema-version'] !== undefined, {
    message: 'needs `version = 1` or `schema-version = "1.x.y"`',
  })
  .refine((m) => !Object.keys(m.vars).some((k) => k.startsWith('BASH_ENVTRACE_')), {
    message: '[vars] must not set BASH_ENVTRACE_* names',
  });

export type Manifest = z.infer<typeof ManifestSchema>;

export class ManifestError extends Error {}

export function parseManifestToml(text: string): Manifest {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    throw new ManifestError(`manifest.toml is not valid TOML: ${(e as Error).message.split('\n')[0]}`);
  }
  return validateManifest(raw, 'manifest.toml');
}

export function validateManifest(raw: unknown, what: string): Manifest {
  const r = ManifestSchema.safeParse(raw);
  if (!r.success) throw new ManifestError(`${what} is invalid: ${issues(r.error)}`);
  return r.data;
}

/** Legacy `version = 1` manifests link every output but `stubs`; schema-version ones do not. */
export function isLegacyManifest(m: Manifest): boolean {
  return m['schema-version'] === undefined;
}
