// The one way a finished sign-in becomes a session, whichever way it went (password, upstream
// provider, a second factor after either, a passkey without a password): the session, the
// new-address notice, the metric, the log line and the audit row, then the return address (or
// enrolment first, when config requires a factor of someone who has none).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../http/index.ts';
import type { Identity } from '../core/index.ts';
import type { FactorState } from '../policy/index.ts';
import type { UserRecord } from '../store/index.ts';
import { clearLoginCookie, newSessionCookie, portalUrl, redirectTo, type GateSettings } from '../web/index.ts';
import type { PortalContext } from './context.ts';

/** The upstream provider a sign-in came through: its id, its mapped groups, how the account was found. */
export interface Upstream {
  via: string;
  groups: string[];
  linked?: string;
}

/** What a first factor (password, upstream provider) hands on to: the factor step, or a session. */
export type AfterFirstFactor = (
  req: IncomingMessage,
  res: ServerResponse,
  s: GateSettings,
  user: UserRecord,
  rd: string,
  first: FactorState,
  upstream?: Upstream,
) => Promise<void>;

export function sessionStart(ctx: PortalContext): AfterFirstFactor {
  const { deps, audit } = ctx;
  const { accounts, sessions, logger, metrics } = deps;

  function identityOf(user: UserRecord, groups: readonly string[] | undefined): Identity {
    const own = accounts.identityOf(user);
    return groups && groups.length ? { ...own, groups: [...new Set([...own.groups, ...groups])] } : own;
  }

  /** Where a finished sign-in goes: the return address, or enrolment first when config requires a factor and there is none. */
  async function onward(s: GateSettings, rd: string, cookie: string, identity: Identity, state: FactorState): Promise<string> {
    if (state.mfaAt === null && deps.factors?.mustUse(identity)) return portalUrl(s, '/oauth2/account/security', { enrol: '1', rd });
    return ctx.destination(s, rd, cookie);
  }

  return async function startSession(req, res, s, user, rd, state, upstream) {
    const ip = readOriginal(req, s.trusted).clientIp;
    const started = await sessions.begin(
      user,
      { ip, userAgent: req.headers['user-agent'] ?? null },
      upstream && { via: upstream.via, groups: upstream.groups },
      state,
    );
    ctx.signedIn(user, started.sid, ip, req.headers['user-agent']);
    // method: the connector, `password`, or how the sign-in went with second factors (pwd+otp+mfa).
    const method = upstream?.via ?? (state.amr.length === 1 && state.amr[0] === 'pwd' ? 'password' : state.amr.join('+'));
    metrics.signIn('success');
    logger.info(
      {
        event: 'sign_in',
        user: user.username,
        ...(upstream ? { connector: upstream.via, linked: upstream.linked } : {}),
        ...(method !== 'password' && !upstream ? { amr: state.amr } : {}),
        session: started.sid.slice(0, 6),
        ip,
      },
      'signed in',
    );
    audit({
      actor: user.username,
      action: 'sign_in',
      outcome: 'ok',
      detail: { ip, method, ...(upstream?.linked ? { linked: upstream.linked } : {}) },
    });
    const to = await onward(s, rd, started.cookie, identityOf(user, upstream?.groups), state);
    redirectTo(res, 303, to, [newSessionCookie(s, s.portalHost, started.cookie), clearLoginCookie(s)]);
  };
}
