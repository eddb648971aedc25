// Which proxy a request goes through, from the environment, as curl, git and Nix read it: the
// runtime inherits containerd's environment, where nodes behind a proxy set these.
//   https_proxy / HTTPS_PROXY   for https:// URLs (tunnelled with CONNECT)
//   http_proxy / HTTP_PROXY     for http:// URLs (absolute-form requests)
//   all_proxy / ALL_PROXY       for both, when the one above is not set
//   no_proxy / NO_PROXY         comma-separated exceptions: "*", a host name (its subdomains
//                               too; a leading "." or "*." is the same), an IP address or CIDR
//                               block, each optionally with ":port"
// Lower case wins over upper case, as in curl. As in Go, loopback (localhost, 127.0.0.0/8, ::1)
// is never proxied: a cache on the node itself is not behind the node's proxy. Only http://
// proxies are supported; their user:password goes as Proxy-Authorization.
import { BlockList, isIP } from 'node:net';
import { isLoopback } from './address.js';

export interface Proxy {
  /** host:port to connect to */
  host: string;
  port: number;
  /** `Basic ...` when the proxy URL has credentials */
  authorization?: string;
  /** for messages and pool keys, without the credentials */
  label: string;
}

interface NoProxyRule {
  /** lower-cased domain without a leading dot; "" for an address rule */
  domain: string;
  port?: number;
  addresses?: BlockList;
}

// a malformed proxy variable fails the requests that would use it, not the others
type Setting = Proxy | ProxyConfigError | undefined;

interface ProxyConfig {
  http: Setting;
  https: Setting;
  all: boolean;
  rules: NoProxyRule[];
}

export class ProxyConfigError extends Error {}

const configs = new Map<string, ProxyConfig>();

/** The proxy for `url` (http: or https:), or undefined to connect directly. */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv = process.env): Proxy | undefined {
  const cfg = configOf(env);
  const proxy = url.protocol === 'https:' ? cfg.https : cfg.http;
  if (!proxy) return undefined;
  const host = hostOf(url).toLowerCase();
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  if (isLoopback(host) || cfg.all || cfg.rules.some((r) => matches(r, host, port))) return undefined;
  if (proxy instanceof ProxyConfigError) throw proxy;
  return proxy;
}

function configOf(env: NodeJS.ProcessEnv): ProxyConfig {
  const pick = (name: string) => env[name.toLowerCase()] || env[name.toUpperCase()] || undefined;
  const all = pick('all_proxy');
  const raw = { http: pick('http_proxy') ?? all, https: pick('https_proxy') ?? all, no: pick('no_proxy') ?? '' };
  const key = JSON.stringify(raw);
  let cfg = configs.get(key);
  if (!cfg) {
    const rules = raw.no
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean);
    cfg = {
      http: setting(raw.http),
      https: setting(raw.https),
      all: rules.includes('*'),
      rules: rules.filter((r) => r !== '*').map(parseRule),
    };
    configs.set(key, cfg);
  }
  return cfg;
}

function setting(value: string | undefined): Setting {
  if (!value) return undefined;
  try {
    return parseProxy(value);
  } catch (e) {
    return e as ProxyConfigError;
  }
}

export function parseProxy(value: string): Proxy {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new ProxyConfigError(`invalid proxy "${redact(value)}" in the environment`);
  }
  if (url.protocol !== 'http:') throw new ProxyConfigError(`proxy ${redact(value)}: only http:// proxies are supported`);
  const host = hostOf(url);
  if (!host) throw new ProxyConfigError(`invalid proxy "${redact(value)}" in the environment`);
  const port = Number(url.port || 80);
  const user = decodeURIComponent(url.username);
  const authorization = user || url.password ? `Basic ${Buffer.from(`${user}:${decodeURIComponent(url.password)}`).toString('base64')}` : undefined;
  return { host, port, ...(authorization ? { authorization } : {}), label: `${url.protocol}//${url.host}` };
}

function parseRule(entry: string): NoProxyRule {
  let host = entry;
  let port: number | undefined;
  // "[::1]:8080", "10.0.0.0/8", "example.com:8443", "::1"
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2]) port = Number(bracket[2]);
  } else if ((entry.match(/:/g) ?? []).length === 1) {
    const i = entry.lastIndexOf(':');
    if (/^\d+$/.test(entry.slice(i + 1))) {
      host = entry.slice(0, i);
      port = Number(entry.slice(i + 1));
    }
  }
  const cidr = /^(.+)\/(\d{1,3})$/.exec(host);
  const address = cidr ? cidr[1]! : host;
  const family = isIP(address);
  if (family) {
    const addresses = new BlockList();
    const type = family === 6 ? 'ipv6' : 'ipv4';
    const bits = cidr ? Number(cidr[2]) : family === 6 ? 128 : 32;
    // a prefix longer than the address is no rule at all (an empty list matches nothing)
    if (bits <= (family === 6 ? 128 : 32)) addresses.addSubnet(address, bits, type);
    return { domain: '', addresses, ...(port !== undefined ? { port } : {}) };
  }
  return { domain: host.replace(/^\*?\./, ''), ...(port !== undefined ? { port } : {}) };
}

function matches(rule: NoProxyRule, host: string, port: number): boolean {
  if (rule.port !== undefined && rule.port !== port) return false;
  if (rule.addresses) {
    const family = isIP(host);
    return family !== 0 && rule.addresses.check(host, family === 6 ? 'ipv6' : 'ipv4');
  }
  return host === rule.domain || host.endsWith(`.${rule.domain}`);
}

/** The URL's host as net.connect takes it: an IPv6 literal without its brackets. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** The proxy URL for a message: credentials never appear in errors or logs. */
function redact(value: string): string {
  return value.replace(/\/\/[^@/]*@/, '//***@');
}
