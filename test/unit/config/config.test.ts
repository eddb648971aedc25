import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../../src/config/load.js';
import { defaultSystem, deriveGitUrl } from '../../../src/config/schema.js';

describe('config', () => {
  it('fills every default from an empty file', () => {
    const c = parseConfig('', 'x.toml');
    expect(c.runtime.delegate).toEqual(['runc', 'crun']);
    expect(c.runtime.stateDir).toBe('/var/lib/flox-runtime');
    expect(c.floxhub.gitUrl).toBe('https://api.flox.dev/git');
    expect(c.nix.trustedPublicKeys).toHaveLength(2);
    expect(c.log).toEqual({ file: '/var/log/flox-runtime.log', level: 'info' });
  });

  it('reads the documented keys', () => {
    const c = parseConfig(
      `[runtime]\ndelegate = ["/usr/local/bin/crun"]\nstate-dir = "/srv/flox"\nsystem = "aarch64-linux"\n` +
        `[floxhub]\nurl = "http://127.0.0.1:8080"\n[nix]\nsubstituters = ["http://127.0.0.1:9/c"]\n` +
        `trusted-public-keys = ["test-1:SKOIJfNzyvde3J0ZDdos4ObUSN6sdLxANas5GtNTglY="]\n[log]\nfile = ""\nlevel = "debug"\n`,
      'x.toml',
    );
    expect(c.runtime).toMatchObject({ delegate: ['/usr/local/bin/crun'], stateDir: '/srv/flox', system: 'aarch64-linux' });
    expect(c.floxhub.gitUrl).toBe('http://127.0.0.1:8080/git');
    expect(c.log.level).toBe('debug');
  });

  it('bounds a floxmeta clone: 256 MiB unless floxhub.max-clone-bytes says otherwise', () => {
    expect(parseConfig('', 'x.toml').floxhub.maxCloneBytes).toBe(256 << 20);
    expect(parseConfig('[floxhub]\nmax-clone-bytes = 1048576\n', 'x.toml').floxhub.maxCloneBytes).toBe(1 << 20);
    expect(() => parseConfig('[floxhub]\nmax-clone-bytes = 0\n', 'x.toml')).toThrow(/floxhub\.max-clone-bytes/);
  });

  it.each([
    ['[runtime]\nstate-dir = "relative"', /runtime\.state-dir: must be an absolute path/],
    ['[runtime]\ndelegate = []', /runtime\.delegate/],
    ['[log]\nlevel = "loud"', /log\.level/],
    ['[nix]\ntrusted-public-keys = ["nokey"]', /must be name:base64/],
    ['[runtime]\nstate_dir = "/x"', /Unrecognized key/],
    ['[runtime\n', /not valid TOML/],
  ])('rejects %j clearly', (text, msg) => {
    expect(() => parseConfig(text, '/etc/flox-runtime/config.toml')).toThrow(msg);
    expect(() => parseConfig(text, '/etc/flox-runtime/config.toml')).toThrow(/config file \/etc\/flox-runtime\/config\.toml/);
  });

  it('FLOX_RUNTIME_CONFIG must exist when set; the default path may be absent', () => {
    expect(() => loadConfig({ FLOX_RUNTIME_CONFIG: '/nonexistent.toml' })).toThrow(/cannot read config file \/nonexistent\.toml/);
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    writeFileSync(join(dir, 'c.toml'), '[log]\nlevel = "warn"\n');
    expect(loadConfig({ FLOX_RUNTIME_CONFIG: join(dir, 'c.toml') }).log.level).toBe('warn');
  });

  it('derives system and git URL as Flox does', () => {
    expect(defaultSystem('x64')).toBe('x86_64-linux');
    expect(defaultSystem('arm64')).toBe('aarch64-linux');
    expect(deriveGitUrl('https://hub.flox.dev')).toBe('https://api.flox.dev/git');
  });
});
