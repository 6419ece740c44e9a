// Which socket peers (and which X-Forwarded-For hops) are our own proxies, and which kind of
// proxy each one is. Only a trusted peer's X-Forwarded-* / X-Original-* headers are believed,
// and only the ones its kind sets itself (see forwarded.ts).
import { BlockList, isIP } from 'node:net';
import { GatehouseError } from '../core/index.ts';

const CACHE_LIMIT = 1024;
/** The longest textual IP address ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is 45). */
const MAX_IP_TEXT = 45;
const MAPPED_PREFIX = '::ffff:';

/**
 * Which headers describe the original request when a forward-auth check comes from this peer:
 *   - `nginx`: nginx and ingress-nginx — X-Original-URL and X-Original-Method (a plain proxied
 *     request without them: the request line, with X-Forwarded-Host/-Proto);
 *   - `forwarded`: Traefik, Caddy and other reverse proxies — X-Forwarded-Method/-Proto/-Host/-Uri;
 *   - `auto`: a plain address in `trustedProxies` — X-Original-URL when present, else
 *     X-Forwarded-*. Safe with every proxy we ship configs for only because any request carrying
 *     both descriptions is refused unless they agree (see forwarded.ts); an explicit kind is better.
 */
export type ProxyKind = 'nginx' | 'forwarded' | 'auto';
export const PROXY_KINDS: readonly ProxyKind[] = ['nginx', 'forwarded', 'auto'];

export interface TrustedProxy {
  cidr: string;
  kind: ProxyKind;
}

/**
 * An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack socket reports for an IPv4
 * peer) is the IPv4 address it carries (RFC 4291 §2.5.5.2); anything else is returned as is.
 */
export function unmapIPv4(ip: string): string {
  if (
    ip.length > MAPPED_PREFIX.length &&
    ip.charCodeAt(0) === 58 /* : */ &&
    ip.slice(0, MAPPED_PREFIX.length).toLowerCase() === MAPPED_PREFIX
  ) {
    const rest = ip.slice(MAPPED_PREFIX.length);
    if (isIP(rest) === 4) return rest;
  }
  return ip;
}

interface Range {
  list: BlockList;
  prefix: number;
  kind: ProxyKind;
}

export class TrustedProxies {
  /** Most specific first: a peer's kind is that of the narrowest range holding it. */
  readonly #ranges: Range[] = [];
  /** ip -> kind, or null for not trusted. */
  readonly #cache = new Map<string, ProxyKind | null>();

  /**
   * `entries`: addresses or CIDR ranges such as `10.0.0.0/8`, `::1/128`, `192.168.1.10` (kind
   * `auto`), or `{ cidr, kind }`.
   */
  constructor(entries: ReadonlyArray<string | TrustedProxy>) {
    for (const [i, e] of entries.entries()) {
      const { cidr, kind } = typeof e === 'string' ? { cidr: e, kind: 'auto' as const } : e;
      if (!PROXY_KINDS.includes(kind))
        throw new GatehouseError('config_invalid', `trustedProxies[${i}].kind: expected one of ${PROXY_KINDS.join(', ')}`);
      this.#ranges.push(this.#parse(cidr.trim(), kind, typeof e === 'string' ? `trustedProxies[${i}]` : `trustedProxies[${i}].cidr`));
    }
    // Stable sort: among equally specific ranges the first listed wins.
    this.#ranges.sort((a, b) => b.prefix - a.prefix);
  }

  #parse(text: string, kind: ProxyKind, path: string): Range {
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
    const list = new BlockList();
    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    // An IPv6 range is compared against IPv6 peers only; give IPv4 ranges the same footing.
    return { list, prefix: family === 4 ? prefix + 96 : prefix, kind };
  }

  /** The kind of proxy at `ip` (a socket address or an X-Forwarded-For hop), or null when it is not one of ours. */
  kindOf(ip: string): ProxyKind | null {
    if (this.#ranges.length === 0) return null;
    // Longer text is no address: refused without a cache entry, so a long X-Forwarded-For hop
    // cannot make the cache hold 1024 copies of itself.
    if (ip.length > MAX_IP_TEXT) return null;
    const hit = this.#cache.get(ip);
    if (hit !== undefined) return hit;
    const addr = unmapIPv4(ip);
    const family = isIP(addr);
    let result: ProxyKind | null = null;
    if (family !== 0) {
      const type = family === 4 ? 'ipv4' : 'ipv6';
      for (const r of this.#ranges)
        if (r.list.check(addr, type)) {
          result = r.kind;
          break;
        }
    }
    // Bounded: hops in X-Forwarded-For are client-chosen strings, so the cache must not grow
    // with them. Evict the oldest entry (Map keeps insertion order).
    if (this.#cache.size >= CACHE_LIMIT) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(ip, result);
    return result;
  }

  /** Whether `ip` (a socket address or an X-Forwarded-For hop) is one of our proxies. */
  isTrusted(ip: string): boolean {
    return this.kindOf(ip) !== null;
  }

  /** Number of cached verdicts (for tests of the bound). */
  get cacheSize(): number {
    return this.#cache.size;
  }
}
