// GET and POST /oauth2/account: a person's own account. Profile; change password (the current one
// first); sessions with device, address and last seen (end one, or all others: every replica
// within a second, through the revocation feed); the apps they allowed (revoke: consent, grants
// and refresh tokens); linked upstream identities (unlink); recent sign-ins. Each change is a
// POST with the form guard, then 303 back here (a reload repeats nothing), audited with the
// person as actor and target.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../http/index.ts';
import { MIN_PASSWORD, MAX_PASSWORD, passwordProblem } from '../accounts/index.ts';
import { textFor, type TextKey } from '../text/index.ts';
import type { SessionView } from '../sessions/index.ts';
import { checkLinkForm, formToken, portalPath, portalUrl, readPostedForm, redirectTo, sendPage, type GateSettings } from '../web/index.ts';
import type { PortalContext } from './context.ts';
import type { PeopleDeps } from './people-deps.ts';
import { accountPage, infoPage, type AccountView } from './people-pages.ts';
import { deviceOf } from './device.ts';
import { upstreamStarter } from './start.ts';

const t = textFor('en');

/** What a 303 back here may say (a key, never text from the request). */
const DONE: Record<string, TextKey> = {
  password: 'account.password_changed',
  session: 'account.session_ended',
  others: 'account.sessions_ended',
  app: 'account.app_revoked',
  unlinked: 'account.identity_unlinked',
  linked: 'account.identity_linked',
  nothing: 'account.nothing',
};

const iso = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

export function accountFlow(ctx: PortalContext, people: PeopleDeps) {
  const { deps } = ctx;
  const { clock, logger, accounts } = deps;
  const startUpstream = upstreamStarter(ctx);

  async function view(s: GateSettings, current: SessionView, csrf: string): Promise<AccountView | null> {
    const user = await accounts.get(current.userId);
    if (!user || user.disabled) return null;
    const identity = accounts.identityOf(user);
    const labels = new Map((deps.federation?.list() ?? []).map((p) => [p.id, p.label]));
    const sessions = await accounts.sessionsOf(user.id);
    const grants = await accounts.grantsOf(user.id);
    const linked = await accounts.identitiesOf(user.id);
    const activity = await deps.audit.list({ actor: user.username, action: 'sign_in', limit: 10 });
    return {
      username: user.username,
      name: user.name,
      email: user.email,
      emailVerified: user.emailVerified,
      groups: [...identity.groups],
      hasPassword: user.passwordHash !== null,
      site: s.publicUrl.host,
      sessions: sessions.map((r) => ({
        id: r.id,
        device: deviceOf(r.userAgent),
        address: r.ip ?? '-',
        started: iso(r.createdAt),
        seen: iso(Math.max(r.lastSeenAt, r.createdAt)),
        current: r.id === current.sid,
      })),
      apps: grants.map((g) => ({ client: g.clientId, label: g.clientId, scopes: g.scopes.join(' ') || '-', since: iso(g.createdAt) })),
      identities: linked.map((i) => ({
        connector: i.connectorId,
        label: labels.get(i.connectorId) ?? i.connectorId,
        subject: i.subject,
        login: i.username ?? i.email ?? i.subject,
      })),
      linkable: (deps.federation?.list() ?? [])
        .filter((p) => !linked.some((i) => i.connectorId === p.id))
        .map((p) => ({ connector: p.id, label: p.label, href: portalPath(s, '/oauth2/account', { link: p.id, csrf }) })),
      activity: activity.map((a) => ({
        when: iso(a.at),
        ok: a.outcome === 'ok',
        address: typeof a.detail.ip === 'string' ? a.detail.ip : '-',
        how:
          typeof a.detail.method === 'string'
            ? a.detail.method === 'password'
              ? t('account.activity_password')
              : (labels.get(a.detail.method) ?? a.detail.method)
            : '-',
      })),
    };
  }

  async function render(
    req: IncomingMessage,
    res: ServerResponse,
    s: GateSettings,
    current: SessionView,
    status: number,
    o: { done?: string; error?: string; errorAbout?: 'password' } = {},
  ): Promise<void> {
    const csrf = formToken(req, s, clock.now());
    const v = await view(s, current, csrf.token);
    if (!v) return toSignIn(res, s);
    sendPage(
      res,
      s,
      status,
      accountPage(s, t, {
        action: portalPath(s, '/oauth2/account'),
        csrf: csrf.token,
        v,
        securityHref: people.securityPath?.() ?? null,
        signOut: portalPath(s, '/oauth2/sign_out'),
        ...o,
      }),
      { setCookie: csrf.setCookie },
    );
  }

  function toSignIn(res: ServerResponse, s: GateSettings): void {
    redirectTo(res, 302, portalPath(s, '/oauth2/sign_in', { rd: portalUrl(s, '/oauth2/account') }));
  }

  async function show(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const s = deps.settings();
    const current = (await ctx.currentSession(req, s))?.view;
    if (!current) return toSignIn(res, s);
    const link = query.get('link');
    if (link !== null) {
      // "Link <provider>": a link carrying the form token (a form's redirect to the provider
      // would be stopped by CSP form-action), checked like a posted form.
      const check = checkLinkForm(req, s, clock.now(), query);
      if (!check.ok || !deps.federation?.get(link)) {
        logger.info({ reason: check.ok ? 'unknown provider' : check.reason, form: 'account_link' }, 'link refused');
        return render(req, res, s, current, check.ok ? 404 : 403, { error: t('account.nothing') });
      }
      return startUpstream(res, s, link, portalUrl(s, '/oauth2/account'), undefined, { link: current.userId });
    }
    const key = DONE[query.get('done') ?? ''];
    const n = Number(query.get('n') ?? '0');
    await render(
      req,
      res,
      s,
      current,
      200,
      key
        ? {
            done: t(key, {
              count: Number.isInteger(n) && n >= 0 ? n : 0,
              app: query.get('app') ?? '',
              provider: query.get('provider') ?? '',
            }),
          }
        : {},
    );
  }

  async function submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    const current = (await ctx.currentSession(req, s))?.view;
    if (!current) return toSignIn(res, s);
    const { form, check } = await readPostedForm(req, s, clock.now());
    if (!check.ok) {
      logger.info({ reason: check.reason, form: 'account' }, 'form refused');
      if (check.rule === 'origin') {
        sendPage(res, s, 403, infoPage(s, { title: t('form.refused_title'), message: t('form.refused'), error: true }));
        return;
      }
      return render(req, res, s, current, 400, { error: t('form.expired') });
    }
    const user = await accounts.get(current.userId);
    if (!user || user.disabled) return toSignIn(res, s);
    const me = user.username;
    const ip = readOriginal(req, s.trusted).clientIp;
    const back = (q: Record<string, string>) => redirectTo(res, 303, portalPath(s, '/oauth2/account', q));
    const op = form.get('op');

    if (op === 'end_session') {
      const sid = form.get('sid') ?? '';
      // Only a session of this person, and not the one making the request (that is sign-out).
      const mine = (await accounts.sessionsOf(user.id)).some((r) => r.id === sid && r.id !== current.sid);
      if (!mine) return back({ done: 'nothing' });
      await accounts.endSession(sid, 'ended from the account page');
      ctx.audit({ actor: me, action: 'session_end', target: me, outcome: 'ok', detail: { session: sid.slice(0, 6), ip } });
      return back({ done: 'session' });
    }
    if (op === 'end_others') {
      let n = 0;
      for (const r of await accounts.sessionsOf(user.id)) {
        if (r.id !== current.sid && (await accounts.endSession(r.id, 'ended from the account page'))) n++;
      }
      ctx.audit({ actor: me, action: 'session_end_others', target: me, outcome: 'ok', detail: { sessionsEnded: n, ip } });
      return back({ done: 'others', n: String(n) });
    }
    if (op === 'revoke_app') {
      const client = form.get('client') ?? '';
      const has = (await accounts.grantsOf(user.id)).some((g) => g.clientId === client);
      if (!has) return back({ done: 'nothing' });
      await accounts.revokeGrant(me, client, me);
      return back({ done: 'app', app: client });
    }
    if (op === 'unlink') {
      const connector = form.get('connector') ?? '';
      const linked = await accounts.identitiesOf(user.id);
      if (!linked.some((i) => i.connectorId === connector)) return back({ done: 'nothing' });
      if (user.passwordHash === null && linked.length === 1)
        return render(req, res, s, current, 409, { error: t('account.identity_last') });
      await accounts.unlink(me, connector, me);
      // Unlinking ends every session of the person (accounts.unlink), this one too.
      return toSignIn(res, s);
    }
    if (op === 'password') {
      if (user.passwordHash === null) return back({ done: 'nothing' });
      const currentPassword = form.get('current') ?? '';
      const next = form.get('password') ?? '';
      const auth = await accounts.authenticate(me, currentPassword, ip);
      if (!auth.ok) {
        ctx.audit({ actor: me, action: 'password_change', target: me, outcome: 'denied', detail: { reason: auth.reason, ip } });
        const error = auth.reason === 'throttled' ? t('reset.throttled', { seconds: auth.retryAfterSeconds }) : t('account.password_wrong');
        return render(req, res, s, current, auth.reason === 'throttled' ? 429 : 400, { error, errorAbout: 'password' });
      }
      const problem = passwordProblem(next, me);
      if (problem)
        return render(req, res, s, current, 400, {
          error: t(`problem.${problem}`, { min: MIN_PASSWORD, max: MAX_PASSWORD }),
          errorAbout: 'password',
        });
      await accounts.setPassword(me, next);
      let n = 0;
      for (const r of await accounts.sessionsOf(user.id)) {
        if (r.id !== current.sid && (await accounts.endSession(r.id, 'password changed'))) n++;
      }
      ctx.audit({ actor: me, action: 'password_change', target: me, outcome: 'ok', detail: { sessionsEnded: n, ip } });
      await people.reset.notifyChanged(user, ip);
      return back({ done: 'password' });
    }
    return back({ done: 'nothing' });
  }

  return { show, submit };
}
