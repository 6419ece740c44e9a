// The spoofing tables: identity and gate headers a client might smuggle, in every spelling,
// with values that are spotted if they get through to the app or are believed by the gate.
import type { SeenRequest } from './whoami.ts';

/** Every spelling of an identity header a client might try to smuggle; each value contains "mallory". */
export const SPOOFED_HEADERS: Array<[string, string]> = [
  ['X-Auth-Request-User', 'mallory'],
  ['X-Auth-Request_User', 'mallory'],
  ['x_auth_request_email', 'mallory@evil.test'],
  ['X-Auth-Request-Email', 'mallory@evil.test'],
  ['X-Auth-Request-Groups', 'mallory-group'],
  ['X-Auth-Request-Preferred-Username', 'mallory'],
  ['X-Forwarded-User', 'mallory'],
  ['X-Forwarded-Email', 'mallory@evil.test'],
  ['X-Forwarded_Email', 'mallory@evil.test'],
  ['X-Forwarded-Groups', 'mallory-group'],
];

// Client copies of the headers the gate reads and of identity headers, for the spoofing tables.

/** Every spoofed value below carries this (or 6.6.6.6), so a copy that gets through is spotted. */
export const SPOOF_MARK = 'mallory';
const MARK = SPOOF_MARK;

/** Every header Gatehouse reads to learn the original request or the client's address. */
export const GATE_HEADERS = [
  'X-Original-URL',
  'X-Original-Method',
  'X-Original-URI',
  'X-Forwarded-For',
  'X-Forwarded-Proto',
  'X-Forwarded-Host',
  'X-Forwarded-Uri',
  'X-Forwarded-Method',
  'X-Forwarded-Port',
  'X-Forwarded-Prefix',
  'Forwarded',
  'X-Real-IP',
];
/** Identity header names apps read (Gatehouse's and oauth2-proxy's, Authelia's, Grafana's, Authentik's, generic). */
export const IDENTITY_HEADERS = [
  'X-Auth-Request-User',
  'X-Auth-Request-Email',
  'X-Auth-Request-Groups',
  'X-Auth-Request-Preferred-Username',
  'X-Auth-Request-Access-Token',
  'X-Forwarded-User',
  'X-Forwarded-Email',
  'X-Forwarded-Groups',
  'X-Forwarded-Preferred-Username',
  'X-Forwarded-Access-Token',
  'Remote-User',
  'Remote-Email',
  'Remote-Groups',
  'Remote-Name',
  'X-Remote-User',
  'X-Remote-Email',
  'X-Remote-Groups',
  'X-Remote-Name',
  'X-User',
  'X-Email',
  'X-Groups',
  'X-WEBAUTH-USER',
  'X-WEBAUTH-EMAIL',
  'X-WEBAUTH-NAME',
  'X-WEBAUTH-GROUPS',
  'X-WEBAUTH-ROLE',
  'X-Authentik-Username',
  'X-Authentik-Email',
  'X-Authentik-Groups',
  'X-Authentik-Name',
  'X-Authentik-Uid',
];
/**
 * Headers the gate does not read but other proxies set and some frameworks believe (Tornado's
 * X-Scheme, Rails' X-Forwarded-Ssl, oauth2-proxy's X-Auth-Request-Redirect): the shipped nginx and
 * Caddy files drop them too.
 */
export const PROXY_HEADERS = [
  'X-Forwarded-Server',
  'X-Forwarded-Ssl',
  'X-Forwarded-Scheme',
  'X-Scheme',
  'X-Sent-From',
  'X-Auth-Request-Redirect',
];

/** Each name in every case and with "_" for "-" (all of them, and only the last). */
export function spellings(name: string): string[] {
  const lastUnderscore = (n: string) => {
    const i = n.lastIndexOf('-');
    return i < 0 ? n : `${n.slice(0, i)}_${n.slice(i + 1)}`;
  };
  const forms = [
    name,
    name.toLowerCase(),
    name.toUpperCase(),
    name.replaceAll('-', '_'),
    name.toLowerCase().replaceAll('-', '_'),
    lastUnderscore(name),
  ];
  return [...new Set(forms)];
}

/**
 * Whether a header value the app or the gate received is one of the spoofed values below: the
 * mark, the spoofed address, or the spoofed port as a number of its own (a random request id
 * such as nginx's $request_id may contain the digits 8443).
 */
export function carriesSpoof(value: string): boolean {
  return value.includes(MARK) || value.includes('6.6.6.6') || /(^|[^0-9a-z])8443($|[^0-9a-z])/i.test(value);
}

/** A value for the header that would flip the decision if believed, and that the app check can spot. */
export function spoofValue(name: string, port: number): string {
  switch (name.toLowerCase()) {
    case 'x-original-url':
      return `http://api.example.test:${port}/adsb/${MARK}`;
    case 'x-original-uri':
    case 'x-forwarded-uri':
    case 'x-forwarded-prefix':
      return `/adsb/${MARK}`;
    case 'x-original-method':
    case 'x-forwarded-method':
      return 'OPTIONS';
    case 'x-forwarded-host':
      return `auth.example.test:${port}`;
    case 'x-forwarded-proto':
      return 'https';
    case 'x-forwarded-port':
      return '8443';
    case 'x-forwarded-for':
    case 'x-real-ip':
      return '6.6.6.6';
    case 'forwarded':
      return `for=6.6.6.6;host=auth.example.test:${port};proto=https`;
    default:
      return `${MARK}-${name.toLowerCase().includes('email') ? `${MARK}@evil.test` : 'admins'}`;
  }
}

/** Throws unless the app saw the request and none of its header values came from SPOOFED_HEADERS. */
export function assertNoSpoof(req: SeenRequest | undefined): void {
  if (req === undefined) throw new Error('the app did not see the request');
  const leaked = req.headers.filter(([, v]) => v.includes('mallory'));
  if (leaked.length > 0) throw new Error(`spoofed headers reached the app: ${JSON.stringify(leaked)}`);
}

/** Values of a header (case-insensitive name) in a request the app saw. */
export function headerValues(req: SeenRequest, name: string): string[] {
  const n = name.toLowerCase();
  return req.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}
