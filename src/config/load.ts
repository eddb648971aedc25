// Reads the config file named by FLOX_RUNTIME_CONFIG, else /etc/flox-runtime/config.toml.
// A missing default file means "all defaults"; a missing file named explicitly is an error.
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { ConfigFileSchema, resolveConfig, type Config } from './schema.js';
import { FloxError } from '../errors.js';

export const DEFAULT_CONFIG_PATH = '/etc/flox-runtime/config.toml';

export function configPath(env: NodeJS.ProcessEnv = process.env): { path: string; explicit: boolean } {
  const fromEnv = env.FLOX_RUNTIME_CONFIG;
  return fromEnv ? { path: fromEnv, explicit: true } : { path: DEFAULT_CONFIG_PATH, explicit: false };
}

/** The `[policy]` the DaemonSet writes from its ConfigMap; read only beside the default config. */
export const DEFAULT_POLICY_PATH = '/etc/flox-runtime/policy.toml';

function tomlOf(text: string, source: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new FloxError('config', `config file ${source} is not valid TOML: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** A policy file holds `[policy]` and nothing else; it may not override a `[policy]` of the config. */
function withPolicyFile(raw: Record<string, unknown>, policy: { text: string; source: string }, source: string): Record<string, unknown> {
  const p = tomlOf(policy.text, policy.source);
  const extra = Object.keys(p).filter((k) => k !== 'policy');
  if (extra.length) throw new FloxError('config', `policy file ${policy.source} may hold only [policy], not ${extra.map((k) => `[${k}]`).join(', ')}`);
  if (p.policy === undefined) return raw;
  if (raw.policy !== undefined) throw new FloxError('config', `both ${source} and ${policy.source} have a [policy]; keep one`);
  return { ...raw, policy: p.policy };
}

export function parseConfig(text: string, source: string, policy?: { text: string; source: string }): Config {
  let raw: unknown = tomlOf(text, source);
  if (policy) raw = withPolicyFile(raw as Record<string, unknown>, policy, source);
  const result = ConfigFileSchema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new FloxError('config', `config file ${source} is invalid: ${issues}`);
  }
  try {
    return resolveConfig(result.data);
  } catch (e) {
    // checks across tables (a policy rule's substituters must be configured ones)
    throw new FloxError('config', `config file ${source} is invalid: ${(e as Error).message}`);
  }
}

/** The policy file, or undefined when there is none (only the default config has one). */
export function readPolicyFile(explicit: boolean, path = DEFAULT_POLICY_PATH): { text: string; source: string } | undefined {
  if (explicit) return undefined;
  try {
    return { text: readFileSync(path, 'utf8'), source: path };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // unreadable is not "no policy": fail closed
    throw new FloxError('config', `cannot read policy file ${path}: ${code ?? (e as Error).message}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { path, explicit } = configPath(env);
  const policy = readPolicyFile(explicit);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return policy ? parseConfig('', path, policy) : resolveConfig({});
    throw new FloxError('config', `cannot read config file ${path}: ${code ?? (e as Error).message}`);
  }
  return parseConfig(text, path, policy);
}
