// Redeeming a cross-domain ticket: `/oauth2/ticket?t=…&rd=…` on the second domain's host,
// reached either as a route (nginx's `location /oauth2/`, reverse-proxy mode) or through
// forward auth (Traefik, Caddy), where the answer is handed to the browser as it is.
import type { ServerResponse } from 'node:http';
import type { Clock, Logger } from '../core/index.ts';
import { validateRedirect } from '../http/index.ts';
import type { TicketStore } from '../store/index.ts';
import { redeemTicket } from './tickets.ts';
import {
  answer,
  contentSecurityPolicy,
  messagePage,
  newSessionCookie,
  NO_STORE,
  portalUrl,
  redirectTo,
  type GateSettings,
} from '../web/index.ts';

export type TicketRedeemer = (res: ServerResponse, host: string, query: URLSearchParams, s: GateSettings) => Promise<void>;

export function createTicketRedeemer(deps: { tickets: TicketStore; clock: Clock; logger: Logger }): TicketRedeemer {
  return async (res, host, query, s) => {
    const token = query.get('t') ?? '';
    const rd = validateRedirect(query.get('rd'), { domains: s.domains, publicUrl: s.publicUrl });
    const cookie = await redeemTicket(deps.tickets, s.keyring, token, host, deps.clock.now());
    // The destination must be on the host the ticket was made for: a ticket never becomes a
    // way to bounce a browser somewhere else.
    if (!cookie || !rd.ok || new URL(rd.url).host !== host) {
      deps.logger.info({ host, ticket: cookie ? 'valid' : 'invalid', rd: rd.ok ? 'ok' : rd.reason }, 'sign-in ticket refused');
      // Served on an app's host, where the paths under publicUrl's are the app's: the stylesheet
      // is the portal's, on the portal's host (under its path), and the CSP allows that origin.
      answer(
        res,
        400,
        {
          'cache-control': NO_STORE,
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': contentSecurityPolicy({ styleFrom: s.publicUrl.origin }),
        },
        messagePage(
          s,
          'Sign-in link expired',
          'This sign-in link has expired or was already used.',
          { href: portalUrl(s, '/oauth2/start', rd.ok ? { rd: rd.url } : undefined), text: 'Sign in again' },
          { absolute: true },
        ),
      );
      return;
    }
    redirectTo(res, 302, rd.url, newSessionCookie(s, host, cookie));
  };
}
