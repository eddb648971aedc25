// What kind of host a URL names, from the name alone (nothing is resolved): loopback, and the
// link-local range where clouds answer with instance credentials (169.254.169.254 and kin).
import { BlockList, isIP } from 'node:net';

/** localhost, *.localhost, 127.0.0.0/8, ::1 */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

const linkLocal = new BlockList();
linkLocal.addSubnet('169.254.0.0', 16, 'ipv4');
linkLocal.addSubnet('fe80::', 10, 'ipv6');
// AWS's IPv6 instance metadata endpoint (fd00:ec2::254) sits in unique-local space
linkLocal.addAddress('fd00:ec2::254', 'ipv6');
// the names clouds give the same endpoint
const METADATA_NAMES = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);

/** A link-local address (IPv4-mapped too) or a cloud metadata service's name. */
export function isLinkLocalOrMetadata(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (METADATA_NAMES.has(h)) return true;
  const family = isIP(h);
  // BlockList also matches an IPv4-mapped IPv6 address (::ffff:a9fe:a9fe) against the IPv4 range
  return family !== 0 && linkLocal.check(h, family === 6 ? 'ipv6' : 'ipv4');
}
