// The one parser for a host and port, used for the Host header, X-Forwarded-Host, the authority of
// X-Original-URL and of an absolute request target, and the host of every redirect target
// (redirect.ts). Grammar: RFC 9110 §7.2 (Host = uri-host [ ":" port ]) over RFC 3986 §3.2.2/§3.2.3,
// narrowed to what a DNS name or an IP address can be:
//   - an IPv6 literal in brackets (no IPvFuture, no zone id: a browser never sends either)
//   - a dotted-quad IPv4 address
//   - a name of dot-separated labels, 1-63 characters each from a-z 0-9 "-" (RFC 1123 §2.1;
//     not "_": a Content-Security-Policy source cannot name such a host, CSP3 §2.3.1), 253 at most,
//     no empty label (so no leading, doubled or trailing dot). A name whose last label is a
//     number must be a valid IPv4 address: the WHATWG URL parser, which browsers use, reads
//     `0x7f.1` or `1.2.3` as IPv4, and a host must never mean one thing here and another there.
//   - a port of 1 to 5 digits, 1-65535; the default port of the scheme is dropped (RFC 9110
//     §4.2.1/§4.2.2: :80 for http, :443 for https is the same origin as no port).
// IDNA policy: ASCII only. A browser or HTTP client converts an internationalized name to its
// A-labels (`xn--…`, RFC 5890) before it sends a request, so a raw non-ASCII byte in a host is a
// crafted request and is refused; A-labels are accepted as ordinary labels, lower-cased, and
// never decoded. Config hosts are written in the same A-label form.
// Everything else — "_", whitespace, "@", "/", "\", "?", "#", "%", ",", "{", control characters — is
// refused, so a host can never smuggle userinfo or a path into a URL built from it.
import { isIP } from 'node:net';
import { GatehouseError } from '../core/index.ts';

/** 1: a letter, digit or "-" (a label character); 2: "."; 3: ":"; 4: "[" or "]". */
const CLASS = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-') CLASS[c.charCodeAt(0)] = 1;
CLASS[46] = 2;
CLASS[58] = 3;
CLASS[91] = 4;
CLASS[93] = 4;

const MAX_HOST = 261; // a 253-character name, ":" and a 5-digit port; an IPv6 literal is shorter
const MAX_NAME = 253;
const MAX_LABEL = 63;

function invalid(what: string, problem: string): GatehouseError {
  return new GatehouseError('invalid_request', `${what}: ${problem}`);
}

/**
 * Validate and normalize `host[:port]`: lower-case, the default port for `proto` removed, a
 * port written without leading zeros. Throws GatehouseError('invalid_request') naming `what`
 * (the header or parameter it came from) when the text is not a host.
 */
export function parseHost(raw: string, proto: 'http' | 'https', what: string): string {
  const len = raw.length;
  if (len === 0 || len > MAX_HOST) throw invalid(what, 'the host is empty or too long');
  let upper = false;
  let colon = -1;
  let brackets = false;
  for (let i = 0; i < len; i++) {
    const c = raw.charCodeAt(i);
    const k = c < 128 ? CLASS[c] : 0;
    if (k === 0) {
      // Inside an IPv6 literal only hex digits, ":" and "." occur, all in the table.
      throw invalid(what, 'the host contains a character that is not allowed');
    }
    if (c <= 90 && c >= 65) upper = true;
    else if (k === 3 && colon < 0) colon = i;
    else if (k === 4) brackets = true;
  }
  const host = upper ? raw.toLowerCase() : raw;
  let name: string;
  let port: string | undefined;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    if (close < 0) throw invalid(what, 'the host has an unclosed IPv6 literal');
    if (isIP(host.slice(1, close)) !== 6) throw invalid(what, 'the host has an invalid IPv6 literal');
    if (close + 1 < len) {
      if (host.charCodeAt(close + 1) !== 58) throw invalid(what, 'the host has junk after the IPv6 literal');
      port = host.slice(close + 2);
    }
    // One spelling per address (RFC 5952, what the WHATWG parser serializes): [::0:0:1] is [::1].
    name = new URL(`http://${host.slice(0, close + 1)}/`).hostname;
  } else {
    // A name or an IPv4 address: no brackets, at most one ":" (the port).
    if (colon === 0 || brackets) throw invalid(what, 'the host name is invalid');
    name = colon > 0 ? host.slice(0, colon) : host;
    if (colon > 0) port = host.slice(colon + 1);
    checkName(name, what);
  }
  if (port === undefined) return name;
  const p = parsePort(port);
  if (p === undefined) throw invalid(what, 'the host has an invalid port');
  if ((proto === 'http' && p === 80) || (proto === 'https' && p === 443)) return name;
  return `${name}:${p}`;
}

/** A port: 1-5 ASCII digits, 1-65535 (RFC 3986 §3.2.3 allows any digits; no socket takes more). */
export function parsePort(text: string): number | undefined {
  if (text.length === 0 || text.length > 5) return undefined;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    n = n * 10 + (c - 48);
  }
  return n >= 1 && n <= 65535 ? n : undefined;
}

function checkName(name: string, what: string): void {
  if (name.length > MAX_NAME) throw invalid(what, 'the host name is longer than 253 characters');
  let start = 0;
  let lastNumeric = false;
  for (let i = 0; i <= name.length; i++) {
    if (i < name.length && name.charCodeAt(i) !== 46) continue;
    const size = i - start;
    if (size === 0) throw invalid(what, 'the host name has an empty label');
    if (size > MAX_LABEL) throw invalid(what, 'the host name has a label longer than 63 characters');
    lastNumeric = isNumberLabel(name, start, i);
    start = i + 1;
  }
  // WHATWG URL "ends in a number": such a host is an IPv4 address or nothing.
  if (lastNumeric && isIP(name) !== 4) throw invalid(what, 'the host name ends in a number but is not an IPv4 address');
}

/** Decimal digits, or "0x" and hex digits (the WHATWG IPv4 number forms). */
function isNumberLabel(s: string, from: number, to: number): boolean {
  if (to - from >= 2 && s.charCodeAt(from) === 48 && (s.charCodeAt(from + 1) | 0x20) === 120) {
    for (let i = from + 2; i < to; i++) if (!/[0-9a-f]/i.test(s[i] as string)) return false;
    return true;
  }
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Whether a host name without a port (a URL's `hostname`) passes parseHost. */
export function isValidHostname(hostname: string): boolean {
  try {
    parseHost(hostname, 'https', 'host');
    return !hostname.includes(':') || hostname.startsWith('[');
  } catch {
    return false;
  }
}
