// The DaemonSet's `flox-runtime-policy` ConfigMap, put on the node as /etc/flox-runtime/policy.toml
// (read beside the default config, src/config/load.ts). Checked against the node's own config
// first, exactly as a container start would load it: a policy the runtime would refuse is never
// written (every flox pod of the node would fail), and the file it replaces stays.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { DEFAULT_CONFIG_PATH, DEFAULT_POLICY_PATH, parseConfig } from '../config/load.js';
import { FloxError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { hostPath } from './fsio.js';

/** First line of a file we wrote; only such a file is ever removed again. */
export const POLICY_MARK = '# written by `flox-runtime install --daemon` from the flox-runtime-policy ConfigMap; edit the ConfigMap, not this file\n';

export interface PolicySync {
  action: 'written' | 'unchanged' | 'removed' | 'none';
  path: string;
}

/**
 * `text`: the ConfigMap's policy.toml, or undefined when the ConfigMap (or its key) is absent:
 * then a file we wrote earlier is removed (the node goes back to no policy), any other is kept.
 */
export function syncPolicyFile(hostRoot: string, text: string | undefined): PolicySync {
  const path = hostPath(hostRoot, DEFAULT_POLICY_PATH);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (text === undefined) {
    if (current === undefined || !current.startsWith(POLICY_MARK)) return { action: 'none', path: DEFAULT_POLICY_PATH };
    rmSync(path, { force: true });
    return { action: 'removed', path: DEFAULT_POLICY_PATH };
  }
  const configFile = hostPath(hostRoot, DEFAULT_CONFIG_PATH);
  const configText = existsSync(configFile) ? readFileSync(configFile, 'utf8') : '';
  try {
    parseConfig(configText, DEFAULT_CONFIG_PATH, { text, source: 'ConfigMap flox-runtime-policy (policy.toml)' });
  } catch (e) {
    throw new FloxError('install', `not installing the policy: ${(e as Error).message}; ${current === undefined ? 'the node has no policy file' : `${DEFAULT_POLICY_PATH} is left as it was`}`);
  }
  const content = POLICY_MARK + text;
  if (current === content) return { action: 'unchanged', path: DEFAULT_POLICY_PATH };
  writeFileAtomic(path, content, { mode: 0o644, mkdir: true, errorKind: 'install' });
  return { action: 'written', path: DEFAULT_POLICY_PATH };
}
