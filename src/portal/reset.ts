// /oauth2/reset: "forgot your password?" and the page a reset link opens.
//   GET  (no t)  the request form          POST (no t)  the same answer whatever was typed (200)
//   GET  ?t=…    the new-password form     POST (t)     set it: every session ends; then sign in
// The request's answer is decided before anything is looked up (PasswordReset.request returns at
// once), so status, body and time are the same for an account that exists and one that does not.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../http/index.ts';
import { MIN_PASSWORD, MAX_PASSWORD } from '../accounts/index.ts';
import { textFor } from '../text/index.ts';
import { clearSessionCookie, formToken, portalPath, readPostedForm, sendPage, type GateSettings } from '../web/index.ts';
import type { PortalContext } from './context.ts';
import type { PeopleDeps } from './people-deps.ts';
import { infoPage, resetChoosePage, resetRequestPage } from './people-pages.ts';

const t = textFor('en');

export function resetFlow(ctx: PortalContext, people: PeopleDeps) {
  const { deps } = ctx;
  const { clock, logger } = deps;
  const minutes = () => Math.round(people.options().passwordReset.linkLifetime / 60_000);
  /** Requests by mail need the form switched on and a way to send. */
  const requestsOpen = () => people.options().passwordReset.enabled && people.mailer().configured;

  function requestForm(
    req: IncomingMessage,
    res: ServerResponse,
    s: GateSettings,
    status: number,
    o: { name?: string; error?: string; retryAfter?: number } = {},
  ): void {
    const csrf = formToken(req, s, clock.now());
    sendPage(
      res,
      s,
      status,
      resetRequestPage(s, t, { action: portalPath(s, '/oauth2/reset'), csrf: csrf.token, signIn: portalPath(s, '/oauth2/sign_in'), ...o }),
      { setCookie: csrf.setCookie, ...(o.retryAfter ? { headers: { 'retry-after': String(o.retryAfter) } } : {}) },
    );
  }

  function chooseForm(
    req: IncomingMessage,
    res: ServerResponse,
    s: GateSettings,
    status: number,
    token: string,
    username: string,
    error?: string,
  ): void {
    const csrf = formToken(req, s, clock.now());
    sendPage(
      res,
      s,
      status,
      resetChoosePage(s, t, {
        action: portalPath(s, '/oauth2/reset'),
        csrf: csrf.token,
        token,
        username,
        minPassword: MIN_PASSWORD,
        ...(error ? { error } : {}),
      }),
      { setCookie: csrf.setCookie },
    );
  }

  function invalid(res: ServerResponse, s: GateSettings): void {
    const links = requestsOpen()
      ? [{ href: portalPath(s, '/oauth2/reset'), text: t('reset.request_again') }]
      : [{ href: portalPath(s, '/oauth2/sign_in'), text: t('link.sign_in') }];
    sendPage(
      res,
      s,
      410,
      infoPage(s, { title: t('reset.invalid_title'), message: t('reset.invalid', { minutes: minutes() }), error: true, links }),
    );
  }

  function off(res: ServerResponse, s: GateSettings): void {
    sendPage(
      res,
      s,
      404,
      infoPage(s, {
        title: t('reset.off_title'),
        message: t('reset.off'),
        links: [{ href: portalPath(s, '/oauth2/sign_in'), text: t('link.sign_in') }],
      }),
    );
  }

  async function show(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const s = deps.settings();
    const token = query.get('t');
    if (token === null) return requestsOpen() ? requestForm(req, res, s, 200) : off(res, s);
    const user = await people.reset.inspect(token);
    if (!user) return invalid(res, s);
    chooseForm(req, res, s, 200, token, user.username);
  }

  async function submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    const { form, check } = await readPostedForm(req, s, clock.now());
    const token = form.get('t');
    if (!check.ok) {
      logger.info({ reason: check.reason, form: 'reset' }, 'form refused');
      if (check.rule === 'origin') {
        sendPage(res, s, 403, infoPage(s, { title: t('form.refused_title'), message: t('form.refused'), error: true }));
        return;
      }
      if (token === null) return requestForm(req, res, s, 400, { error: t('form.expired') });
      const user = await people.reset.inspect(token);
      return user ? chooseForm(req, res, s, 400, token, user.username, t('form.expired')) : invalid(res, s);
    }
    const ip = readOriginal(req, s.trusted).clientIp;
    if (token === null) {
      if (!requestsOpen()) return off(res, s);
      const wait = people.reset.request(form.get('name') ?? '', ip);
      if (wait > 0) return requestForm(req, res, s, 429, { error: t('reset.throttled', { seconds: wait }), retryAfter: wait });
      sendPage(
        res,
        s,
        200,
        infoPage(s, {
          title: t('reset.sent_title'),
          message: t('reset.sent', { minutes: minutes() }),
          links: [{ href: portalPath(s, '/oauth2/sign_in'), text: t('link.back_to_sign_in') }],
        }),
      );
      return;
    }
    const r = await people.reset.complete(token, form.get('password') ?? '', ip);
    if (!r.ok) {
      if (r.reason === 'invalid_link') return invalid(res, s);
      const user = await people.reset.inspect(token);
      return user
        ? chooseForm(req, res, s, 400, token, user.username, t(`problem.${r.reason}`, { min: MIN_PASSWORD, max: MAX_PASSWORD }))
        : invalid(res, s);
    }
    // Every session ended, this browser's too: its cookie goes now rather than at its next request.
    sendPage(
      res,
      s,
      200,
      infoPage(s, {
        title: t('reset.done_title'),
        message: t('reset.done'),
        links: [{ href: portalPath(s, '/oauth2/sign_in'), text: t('link.sign_in') }],
      }),
      { setCookie: clearSessionCookie(s, s.portalHost) },
    );
  }

  return { show, submit };
}
