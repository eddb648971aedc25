// /etc/flox-runtime/policy.toml: what the DaemonSet writes from its ConfigMap, and how the
// config loader takes it in. A policy the runtime would refuse never replaces a working one.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfig, readPolicyFile } from '../../../src/config/load.js';
import { POLICY_MARK, syncPolicyFile } from '../../../src/install/policy-file.js';

const ROOT = join(import.meta.dirname, '../../..');
const configMap = parseYaml(readFileSync(join(ROOT, 'deploy/policy-configmap.yaml'), 'utf8')) as { data: Record<string, string> };
const shipped = configMap.data['policy.toml']!;
const uncommented = shipped.replace(/^# ?/gm, '');
const RULE = '[policy]\n[[policy.rule]]\nname = "ci"\nnamespaces = ["ci-*"]\nenvironments = ["acme/*"]\n';

function host(config?: string): string {
  const h = mkdtempSync(join(tmpdir(), 'policy-host-'));
  if (config !== undefined) {
    mkdirSync(join(h, 'etc/flox-runtime'), { recursive: true });
    writeFileSync(join(h, 'etc/flox-runtime/config.toml'), config);
  }
  return h;
}
const policyOn = (h: string) => join(h, 'etc/flox-runtime/policy.toml');

describe('the policy ConfigMap in deploy/', () => {
  it('ships inactive (comments only), and its example is a valid policy once uncommented', () => {
    expect(parseConfig('', 'c.toml', { text: shipped, source: 'p.toml' }).policy.mode).toBe('off');
    const p = parseConfig('', 'c.toml', { text: uncommented, source: 'p.toml' }).policy;
    expect(p).toMatchObject({ mode: 'enforce', default: 'deny' });
    expect(p.rules.map((r) => r.name)).toEqual(['ci', 'platform']);
    expect(p.rules[0]).toMatchObject({ nodeToken: false, pinned: true, substituters: ['https://cache.flox.dev'] });
  });
});

describe('the policy file', () => {
  it('is merged into the config; it holds only [policy] and never overrides the config\'s own', () => {
    expect(parseConfig('', 'c.toml', { text: RULE, source: 'p.toml' }).policy.rules).toHaveLength(1);
    expect(() => parseConfig(RULE, 'c.toml', { text: RULE, source: 'p.toml' })).toThrow(/both c\.toml and p\.toml have a \[policy\]; keep one/);
    expect(() => parseConfig('', 'c.toml', { text: '[nix]\nsubstituters = []\n', source: 'p.toml' })).toThrow(/policy file p\.toml may hold only \[policy\], not \[nix\]/);
  });

  it('is read only beside the default config, not beside one named by FLOX_RUNTIME_CONFIG', () => {
    const h = host('');
    writeFileSync(policyOn(h), RULE);
    expect(readPolicyFile(false, policyOn(h))?.text).toBe(RULE);
    expect(readPolicyFile(true, policyOn(h))).toBeUndefined();
    expect(readPolicyFile(false, join(h, 'none.toml'))).toBeUndefined();
  });

  it('the daemon writes the ConfigMap\'s policy marked as its own, and rewrites it only when it changed', () => {
    const h = host('');
    expect(syncPolicyFile(h, RULE)).toEqual({ action: 'written', path: '/etc/flox-runtime/policy.toml' });
    expect(readFileSync(policyOn(h), 'utf8')).toBe(POLICY_MARK + RULE);
    expect(syncPolicyFile(h, RULE).action).toBe('unchanged');
  });

  it('a policy the node\'s config makes invalid is not written, and the working one stays', () => {
    const h = host('[nix]\nsubstituters = ["https://nix-cache.internal.example"]\n');
    syncPolicyFile(h, RULE);
    const bad = `${RULE}substituters = ["https://cache.flox.dev"]\n`;
    expect(() => syncPolicyFile(h, bad)).toThrow(/not installing the policy: .*https:\/\/cache\.flox\.dev is not one of nix\.substituters.*\/etc\/flox-runtime\/policy\.toml is left as it was/);
    expect(readFileSync(policyOn(h), 'utf8')).toBe(POLICY_MARK + RULE);
    expect(() => syncPolicyFile(h, '[policy\n')).toThrow(/not valid TOML/);
  });

  it('without the ConfigMap the file the daemon wrote goes, a hand-written one stays', () => {
    const h = host('');
    syncPolicyFile(h, RULE);
    expect(syncPolicyFile(h, undefined).action).toBe('removed');
    expect(existsSync(policyOn(h))).toBe(false);
    writeFileSync(policyOn(h), RULE);
    expect(syncPolicyFile(h, undefined).action).toBe('none');
    expect(readFileSync(policyOn(h), 'utf8')).toBe(RULE);
  });
});
