// Client networks: a list of addresses and CIDR blocks in one `node:net` BlockList. An
// IPv4-mapped IPv6 address (::ffff:10.0.0.1, RFC 4291 §2.5.5.2) is the IPv4 address it carries:
// BlockList checks it against IPv4 blocks, so a dual-stack listener cannot dodge an IPv4 rule.
import { BlockList, isIP } from 'node:net';

export type NetworkMatcher = (ip: string) => boolean;

const PREFIX = /^\d{1,3}$/;

/** Why an entry was refused, or undefined when it is a valid address or CIDR block. */
export function cidrProblem(entry: string): string | undefined {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return 'expected an IP address or CIDR such as 10.0.0.0/8 or ::1/128';
  if (slash === -1) return undefined;
  const prefix = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!PREFIX.test(prefix) || Number(prefix) > max) return `expected a prefix length from 0 to ${max}`;
  return undefined;
}

/** Compile entries already checked with cidrProblem. */
export function compileNetworks(entries: readonly string[]): NetworkMatcher {
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (slash === -1) list.addAddress(address, type);
    else list.addSubnet(address, Number(entry.slice(slash + 1)), type);
  }
  return (ip) => {
    const family = isIP(ip);
    // Anything that is not an address (a zone id, garbage) is in no network.
    if (family === 0) return false;
    try {
      return list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
    } catch {
      return false;
    }
  };
}
