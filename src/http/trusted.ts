// Which socket peers (and which X-Forwarded-For hops) are our own proxies. Only their
// X-Forwarded-* / X-Original-* headers are believed (see forwarded.ts).
import { BlockList, isIP } from 'node:net';
import { GatehouseError } from '../core/index.ts';

const CACHE_LIMIT = 1024;
/** The longest textual IP address ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is 45). */
const MAX_IP_TEXT = 45;
const MAPPED_PREFIX = '::ffff:';

/**
 * An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack socket reports for an IPv4
 * peer) is the IPv4 address it carries (RFC 4291 §2.5.5.2); anything else is returned as is.
 */
export function unmapIPv4(ip: string): string {
  if (ip.length > MAPPED_PREFIX.length && ip.charCodeAt(0) === 58 /* : */ &&
      ip.slice(0, MAPPED_PREFIX.length).toLowerCase() === MAPPED_PREFIX) {
    const rest = ip.slice(MAPPED_PREFIX.length);
    if (isIP(rest) === 4) return rest;
  }
  return ip;
}

export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #cache = new Map<string, boolean>();
  readonly #empty: boolean;

  /** `cidrs`: addresses or CIDR ranges such as `10.0.0.0/8`, `::1/128`, `192.168.1.10`. */
  constructor(cidrs: readonly string[]) {
    for (const [i, raw] of cidrs.entries()) this.#add(raw.trim(), `trustedProxies[${i}]`);
    this.#empty = cidrs.length === 0;
  }

  #add(text: string, path: string): void {
    const slash = text.indexOf('/');
    let address = unmapIPv4(slash < 0 ? text : text.slice(0, slash));
    const family = isIP(address);
    if (family === 0) throw new GatehouseError('config_invalid', `${path}: "${text}" is not an IP address or CIDR range`);
    let prefix = family === 4 ? 32 : 128;
    if (slash >= 0) {
      const p = text.slice(slash + 1);
      prefix = /^\d{1,3}$/.test(p) ? Number(p) : -1;
      // ::ffff:10.0.0.0/104 is the IPv4 range 10.0.0.0/8.
      if (family === 4 && address !== text.slice(0, slash)) prefix -= 96;
      if (prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
        throw new GatehouseError('config_invalid', `${path}: "${text}" has an invalid prefix length`);
      }
    }
    if (family === 6) address = address.toLowerCase();
    this.#list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }

  /** Whether `ip` (a socket address or an X-Forwarded-For hop) is one of our proxies. */
  isTrusted(ip: string): boolean {
    if (this.#empty) return false;
    // Longer text is no address: refused without a cache entry, so a long X-Forwarded-For hop
    // cannot make the cache hold 1024 copies of itself.
    if (ip.length > MAX_IP_TEXT) return false;
    const hit = this.#cache.get(ip);
    if (hit !== undefined) return hit;
    const addr = unmapIPv4(ip);
    const family = isIP(addr);
    const result = family !== 0 && this.#list.check(addr, family === 4 ? 'ipv4' : 'ipv6');
    // Bounded: hops in X-Forwarded-For are client-chosen strings, so the cache must not grow
    // with them. Evict the oldest entry (Map keeps insertion order).
    if (this.#cache.size >= CACHE_LIMIT) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(ip, result);
    return result;
  }

  /** Number of cached verdicts (for tests of the bound). */
  get cacheSize(): number { return this.#cache.size; }
}
