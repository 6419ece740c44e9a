// Outbound requests to URLs a client supplied (client ID metadata documents, a registered
// client's back-channel logout URI, jwks_uri, sector_identifier_uri: everything oidc-provider
// fetches through its `fetch` hook). The SSRF guard runs BEFORE any connection:
//   1. the URL: http or https only, no credentials
//   2. the host: an IP literal (the WHATWG parser has already turned 127.1, 0x7f.1, 2130706433,
//      0177.0.0.1 into 127.0.0.1) is checked as it is; a name is resolved (every address), and
//      one special-use address among them refuses the request
//   3. the connection goes to the checked address only (the resolver answer is handed to the
//      socket: no second lookup that could answer differently), with the name kept for SNI,
//      certificate checks and Host
//   4. no redirects (a 3xx is returned as it is), a timeout, a response size limit
// Every refusal is logged with the host and the reason.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { Logger } from '../core/index.ts';

/** Special-use IPv4 ranges (RFC 6890 and its updates): never reachable from a client-supplied URL. */
const V4_SPECIAL: [string, number][] = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // shared address space, CGNAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata services live here)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
];

/** Special-use IPv6 ranges. IPv4-mapped (::ffff:0:0/96) is unwrapped and checked as IPv4. */
const V6_SPECIAL: [string, number][] = [
  ['::', 96], // unspecified, loopback (::1) and the deprecated IPv4-compatible form
  ['64:ff9b::', 96], // NAT64 (reaches IPv4 inside a translator's network)
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments (Teredo 2001::/32 among them)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4 (embeds an IPv4 address)
  ['fc00::', 7], // unique local (ULA)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

const special = new BlockList();
for (const [a, p] of V4_SPECIAL) special.addSubnet(a, p, 'ipv4');
for (const [a, p] of V6_SPECIAL) special.addSubnet(a, p, 'ipv6');

/** The 8 groups of an IPv6 address (a trailing dotted quad allowed), or null. */
function groups6(address: string): number[] | null {
  let a = address.toLowerCase();
  const zone = a.indexOf('%');
  if (zone !== -1) a = a.slice(0, zone);
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (quad) {
    const [b0, b1, b2, b3] = quad.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, quad.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const halves = a.split('::');
  if (halves.length > 2) return null;
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - left.length - right.length : 0;
  const all = [...left, ...Array<string>(Math.max(0, fill)).fill('0'), ...right];
  if (all.length !== 8) return null;
  const out = all.map((g) => parseInt(g, 16));
  return out.some((n) => !Number.isInteger(n) || n < 0 || n > 0xffff) ? null : out;
}

/** Whether an address (IPv4 or IPv6, brackets allowed) is special-use; anything unparseable counts as special. */
export function isSpecialAddress(address: string): boolean {
  const a = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(a);
  if (family === 4) return special.check(a, 'ipv4');
  if (family !== 6) return true;
  const g = groups6(a);
  if (!g) return true;
  // IPv4-mapped ::ffff:a.b.c.d: the IPv4 address is what a socket reaches.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    const v4 = `${(g[6] ?? 0) >> 8}.${(g[6] ?? 0) & 0xff}.${(g[7] ?? 0) >> 8}.${(g[7] ?? 0) & 0xff}`;
    return special.check(v4, 'ipv4');
  }
  return special.check(g.map((n) => n.toString(16)).join(':'), 'ipv6');
}

export class OutboundRefused extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`outbound request refused: ${reason}`);
    this.name = 'OutboundRefused';
    this.reason = reason;
  }
}

export type Resolve = (host: string) => Promise<{ address: string; family: number }[]>;

export interface GuardedFetchOptions {
  logger: Logger;
  /** Name resolution (tests: an /etc/hosts-style override); default: the system resolver, every address. */
  resolve?: Resolve;
  /** Which addresses may be reached (default: every address that is not special-use). */
  allowAddress?: (address: string) => boolean;
  timeoutMs?: number;
  maxBytes?: number;
}

type Init = RequestInit & { dispatcher?: unknown };

const systemResolve: Resolve = async (host) => dnsLookup(host, { all: true, verbatim: true });

function bodyOf(init: Init): Buffer | undefined {
  const b = init.body;
  if (b === undefined || b === null) return undefined;
  if (typeof b === 'string') return Buffer.from(b);
  if (b instanceof URLSearchParams) return Buffer.from(b.toString());
  if (b instanceof Uint8Array) return Buffer.from(b);
  if (b instanceof ArrayBuffer) return Buffer.from(b);
  throw new TypeError('outbound request body must be a string, URLSearchParams or bytes');
}

/** A `fetch` for oidc-provider's hook that refuses special-use addresses before connecting. */
export function createGuardedFetch(opts: GuardedFetchOptions): (input: string | URL, init?: Init) => Promise<Response> {
  const resolve = opts.resolve ?? systemResolve;
  const allow = opts.allowAddress ?? ((a: string) => !isSpecialAddress(a));
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const maxBytes = opts.maxBytes ?? 512 * 1024;

  function refuse(url: URL | string, reason: string, address?: string): never {
    let where = String(url);
    try {
      const u = new URL(String(url));
      where = `${u.protocol}//${u.host}${u.pathname}`;
    } catch {
      /* logged as given */
    }
    opts.logger.warn(
      { event: 'outbound.refused', url: where, ...(address ? { address } : {}), reason },
      'refused an outbound request to a client-supplied URL',
    );
    throw new OutboundRefused(reason);
  }

  return async (input, init = {}) => {
    let url: URL;
    try {
      url = new URL(String(input));
    } catch {
      return refuse(input, 'not a URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return refuse(url, `scheme ${url.protocol} is not http or https`);
    if (url.username !== '' || url.password !== '') return refuse(url, 'the URL carries credentials');
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;

    // 2. Every address, checked before a socket exists.
    let pinned: { address: string; family: number };
    if (isIP(host)) {
      if (!allow(host)) return refuse(url, 'a special-use address', host);
      pinned = { address: host, family: isIP(host) };
    } else {
      let addrs: { address: string; family: number }[];
      try {
        addrs = await resolve(host);
      } catch {
        return refuse(url, 'the host name does not resolve');
      }
      if (addrs.length === 0) return refuse(url, 'the host name does not resolve');
      const bad = addrs.find((a) => !allow(a.address));
      if (bad) return refuse(url, 'the host name resolves to a special-use address', bad.address);
      pinned = addrs[0] as { address: string; family: number };
    }

    // 3. The socket gets the checked address; the name stays for SNI, the certificate and Host.
    const lookup: LookupFunction = (_hostname, options, cb) => {
      if ((options as { all?: boolean }).all)
        (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [pinned]);
      else cb(null, pinned.address, pinned.family);
    };
    const body = bodyOf(init);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    if (body) headers['content-length'] = String(body.length);
    const signals = [AbortSignal.timeout(timeoutMs), ...(init.signal ? [init.signal] : [])];
    const signal = AbortSignal.any(signals);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;

    const res = await new Promise<IncomingMessage>((ok, fail) => {
      const req = send(
        url,
        {
          method: init.method ?? 'GET',
          headers,
          lookup,
          agent: false,
          signal,
          ...(url.protocol === 'https:' && !isIP(host) ? { servername: host } : {}),
        },
        ok,
      );
      req.on('error', fail);
      req.end(body);
    });

    // 4. The body, bounded; a 3xx is returned as it is (never followed).
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) {
          res.destroy();
          return refuse(url, `the response is larger than ${maxBytes} bytes`);
        }
        chunks.push(chunk);
      }
    } catch (err) {
      if (err instanceof OutboundRefused) throw err;
      throw new Error('the outbound response could not be read', { cause: err });
    }
    const out = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
    }
    const status = res.statusCode ?? 502;
    const nullBody = status === 204 || status === 304 || (init.method ?? 'GET') === 'HEAD';
    return new Response(nullBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers: out });
  };
}
