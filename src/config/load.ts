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

export function parseConfig(text: string, source: string): Config {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    throw new FloxError('config', `config file ${source} is not valid TOML: ${(e as Error).message.split('\n')[0]}`);
  }
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

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { path, explicit } = configPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return resolveConfig({});
    throw new FloxError('config', `cannot read config file ${path}: ${code ?? (e as Error).message}`);
  }
  return parseConfig(text, path);
}
