// Which binary-cache redirects are followed: decided on the URLs alone, before connecting.
import { describe, expect, it } from 'vitest';
import { isLinkLocalOrMetadata } from '../../../src/net/address.js';
import { refuseRedirect, substituterHosts } from '../../../src/nix/redirect.js';

const r = (from: string, to: string, allowed: string[] = []) => refuseRedirect(new URL(from), new URL(to), allowed);

describe('cache redirects', () => {
  it('follows the same host, on the same scheme or up to https', () => {
    expect(r('https://cache.example/x.narinfo', 'https://cache.example/nar/y')).toBeUndefined();
    expect(r('http://127.0.0.1:8080/c/x', 'http://127.0.0.1:8080/d/x')).toBeUndefined();
    expect(r('http://cache.example/x', 'https://cache.example/x')).toBeUndefined();
  });

  it('follows https to another configured substituter host, and no other', () => {
    expect(r('https://cache.example/x', 'https://cdn.example/x', ['cdn.example'])).toBeUndefined();
    expect(r('https://cache.example/x', 'https://evil.example/x', ['cdn.example'])).toBe('to a host that is not a configured substituter');
    // the port is part of the host
    expect(r('https://cache.example/x', 'https://cdn.example:8443/x', ['cdn.example'])).toBe('to a host that is not a configured substituter');
    expect(r('http://127.0.0.1:1/x', 'http://127.0.0.1:2/x', ['127.0.0.1:2'])).toBe('to another host over plain http');
  });

  it('never goes from https to plain http, not even on the same host', () => {
    expect(r('https://cache.example/x', 'http://cache.example/x')).toBe('from https to plain http');
    expect(r('https://cache.example/x', 'http://cdn.example/x', ['cdn.example'])).toBe('from https to plain http');
  });

  it.each([
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'https://169.254.169.254/',
    'http://[::ffff:169.254.169.254]/',
    'http://0xa9fea9fe/',
    'http://[fe80::1]/',
    'http://[fd00:ec2::254]/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://METADATA.google.internal./',
  ])('never goes to a link-local or metadata address: %s', (to) => {
    expect(r('http://169.254.169.254/', to)).toBe('a link-local or cloud metadata address');
    expect(r('https://cache.example/', to.replace(/^http:/, 'https:'), [new URL(to).host])).toBe('a link-local or cloud metadata address');
  });

  it('refuses other schemes', () => {
    expect(r('https://cache.example/x', 'file:///etc/shadow')).toBe('file is not http(s)');
  });

  it('the allow-list is the http(s) substituters', () => {
    expect(substituterHosts(['https://cache.nixos.org', 'http://127.0.0.1:9/c', 'file:///srv/cache'])).toEqual(['cache.nixos.org', '127.0.0.1:9']);
    expect(isLinkLocalOrMetadata('cache.nixos.org')).toBe(false);
    expect(isLinkLocalOrMetadata('10.0.0.1')).toBe(false);
  });
});
