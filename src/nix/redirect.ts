// Which redirects of a binary cache are followed. A cache (or whoever answers for it) picks the
// Location: followed anywhere, it would turn the node into a client of the cache's choosing
// (the cloud's metadata service at 169.254.169.254, a service on the node's network) and
// could move the download off https. Decided on the URLs alone, before anything connects.
import { isLinkLocalOrMetadata } from '../net/address.js';
import { hostOf } from '../net/proxy.js';

/**
 * Why the redirect from `from` to `to` is not followed, or undefined to follow it. Followed:
 * the same host (and port) on the same or a safer scheme, or https to a host in `allowedHosts`
 * (the configured substituters' hosts). Never to plain http from https, never to link-local
 * or metadata addresses.
 */
export function refuseRedirect(from: URL, to: URL, allowedHosts: readonly string[] = []): string | undefined {
  if (to.protocol !== 'https:' && to.protocol !== 'http:') return `${to.protocol.replace(/:$/, '')} is not http(s)`;
  if (from.protocol === 'https:' && to.protocol !== 'https:') return 'from https to plain http';
  if (isLinkLocalOrMetadata(hostOf(to))) return 'a link-local or cloud metadata address';
  if (to.host === from.host) return undefined;
  if (to.protocol !== 'https:') return 'to another host over plain http';
  if (!allowedHosts.includes(to.host)) return 'to a host that is not a configured substituter';
  return undefined;
}

/** The hosts (host:port) of the http(s) substituters, for `refuseRedirect`. */
export function substituterHosts(urls: readonly string[]): string[] {
  return urls.flatMap((u) => (/^https?:\/\//.test(u) ? [new URL(u).host] : []));
}
