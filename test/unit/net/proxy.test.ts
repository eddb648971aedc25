// Which proxy the environment names for a URL: the variables curl, git and Nix read, NO_PROXY's
// forms, loopback never proxied, credentials kept out of messages.
import { describe, expect, it } from 'vitest';
import { ProxyConfigError, parseProxy, proxyFor } from '../../../src/net/proxy.js';

const via = (url: string, env: NodeJS.ProcessEnv) => proxyFor(new URL(url), env)?.label;

describe('proxyFor', () => {
  it('takes the variable of the scheme, lower case before upper case, all_proxy as the fallback', () => {
    expect(via('https://cache.example/x', { HTTPS_PROXY: 'http://p1:3128' })).toBe('http://p1:3128');
    expect(via('https://cache.example/x', { https_proxy: 'p2:8080', HTTPS_PROXY: 'http://p1:3128' })).toBe('http://p2:8080');
    expect(via('http://cache.example/x', { HTTPS_PROXY: 'http://p1:3128' })).toBeUndefined();
    expect(via('http://cache.example/x', { http_proxy: 'http://p3' })).toBe('http://p3');
    expect(via('https://cache.example/x', { ALL_PROXY: 'http://p4:1' })).toBe('http://p4:1');
    expect(via('https://cache.example/x', {})).toBeUndefined();
  });

  it('never proxies loopback', () => {
    const env = { HTTPS_PROXY: 'http://p:1', HTTP_PROXY: 'http://p:1' };
    for (const u of ['https://localhost:8443/', 'http://127.0.0.1:5000/', 'http://127.9.9.9/', 'https://[::1]:443/', 'http://cache.localhost/']) expect(via(u, env), u).toBeUndefined();
    expect(via('http://10.0.0.1/', env)).toBe('http://p:1');
  });

  it('honours NO_PROXY: *, domains and their subdomains, addresses, CIDR blocks and ports', () => {
    const env = (no: string) => ({ HTTPS_PROXY: 'http://p:1', NO_PROXY: no });
    expect(via('https://cache.example/', env('*'))).toBeUndefined();
    expect(via('https://cache.example/', env('example'))).toBeUndefined();
    expect(via('https://a.b.example/', env(' .example '))).toBeUndefined();
    expect(via('https://a.b.example/', env('*.example'))).toBeUndefined();
    expect(via('https://notexample/', env('example'))).toBe('http://p:1');
    expect(via('https://cache.example:8443/', env('cache.example:443'))).toBe('http://p:1');
    expect(via('https://cache.example/', env('cache.example:443'))).toBeUndefined();
    expect(via('https://10.1.2.3/', env('10.0.0.0/8'))).toBeUndefined();
    expect(via('https://11.1.2.3/', env('10.0.0.0/8'))).toBe('http://p:1');
    expect(via('https://192.168.1.5:8443/', env('192.168.1.5:8443'))).toBeUndefined();
    expect(via('https://[fd00::5]/', env('fd00::/8'))).toBeUndefined();
    expect(via('https://[fd00::5]/', env('[fd00::5]:443'))).toBeUndefined();
    // a malformed entry matches nothing and spoils nothing else
    expect(via('https://10.1.2.3/', env('10.0.0.0/99,cache.example'))).toBe('http://p:1');
    expect(via('https://CACHE.example/', env('10.0.0.0/99,cache.example'))).toBeUndefined();
  });

  it('sends the proxy credentials as Basic Proxy-Authorization, and never shows them', () => {
    const p = parseProxy('http://us%40er:s3cret@proxy.corp:3128');
    expect(p).toMatchObject({ host: 'proxy.corp', port: 3128, label: 'http://proxy.corp:3128' });
    expect(Buffer.from(p.authorization!.replace('Basic ', ''), 'base64').toString()).toBe('us@er:s3cret');
    expect(parseProxy('proxy.corp').port).toBe(80);
  });

  it('refuses what it cannot use, only for the requests that would use it, without the password', () => {
    const env = { HTTPS_PROXY: 'https://u:s3cret@proxy.corp:443', HTTP_PROXY: 'http://ok:1' };
    expect(() => proxyFor(new URL('https://cache.example/'), env)).toThrow(ProxyConfigError);
    expect(() => proxyFor(new URL('https://cache.example/'), env)).toThrow(/proxy https:\/\/\*\*\*@proxy\.corp:443: only http:\/\/ proxies/);
    expect(() => proxyFor(new URL('https://cache.example/'), env)).not.toThrow(/s3cret/);
    expect(via('http://cache.example/', env)).toBe('http://ok:1');
    expect(via('https://cache.example/', { ...env, NO_PROXY: 'example' })).toBeUndefined();
  });
});
