// /metrics is for the operator's scraper, never for the internet: process, heap and decision
// counters tell an attacker what runs and how busy it is. Without a separate metrics listener
// (metrics.listen), the main listener serves /metrics only to requests that came straight to
// Gatehouse — a scraper addressing the pod or container by IP or an internal name — and answers
// 404 to anything that came through the public door:
//   - any header a proxy adds when it forwards (the shipped nginx, Caddy and Traefik configs and
//     every common ingress add X-Forwarded-For or X-Real-IP), or
//   - a Host that is the portal's or under one of domains[] (the names the ingress routes).
// Header presence is enough: a client can add such a header, which only ever makes the answer 404.
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/index.ts';

const FORWARDING_HEADERS = [
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-real-ip',
  'x-original-url',
  'x-original-method',
  'x-original-uri',
];

function hostName(raw: string | undefined): string {
  if (raw === undefined) return '';
  const v = raw.trim().toLowerCase();
  if (v.startsWith('[')) return v.slice(0, v.indexOf(']') + 1);
  const colon = v.lastIndexOf(':');
  return (colon === -1 ? v : v.slice(0, colon)).replace(/\.$/, '');
}

/** Whether a request reached us through a proxy or under a public name (see the top of the file). */
export function cameThroughPublicDoor(req: IncomingMessage, config: Pick<Config, 'publicUrl' | 'domains'>): boolean {
  for (const name of FORWARDING_HEADERS) if (req.headers[name] !== undefined) return true;
  const host = hostName(req.headers.host);
  if (config.publicUrl !== undefined && host === hostName(new URL(config.publicUrl).host)) return true;
  for (const d of config.domains) {
    const domain = d.domain.toLowerCase();
    if (host === domain || host.endsWith('.' + domain)) return true;
  }
  return false;
}
