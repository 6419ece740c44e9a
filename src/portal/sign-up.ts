// /oauth2/sign_up (signUp.enabled): self sign-up. The address comes first and is proven by mail:
// the page takes an address at one of signUp.emailDomains and mails it a one-use invitation
// (signUp.groups, signUp.linkLifetime); opening it is the enrolment screen. The answer is the
// same whether or not the address has an account already (then nothing is sent).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readOriginal } from '../http/index.ts';
import { textFor } from '../text/index.ts';
import { formToken, portalPath, portalUrl, readPostedForm, sendPage, type GateSettings } from '../web/index.ts';
import type { PortalContext } from './context.ts';
import type { PeopleDeps } from './people-deps.ts';
import { infoPage, signUpPage } from './people-pages.ts';

const t = textFor('en');
const EMAIL = /^[^@\s]{1,64}@([a-z0-9.-]{1,253})$/i;

export function signUpFlow(ctx: PortalContext, people: PeopleDeps) {
  const { deps } = ctx;
  const { clock, logger } = deps;
  const open = () => people.options().signUp.enabled && people.mailer().configured;

  function page(
    req: IncomingMessage,
    res: ServerResponse,
    s: GateSettings,
    status: number,
    o: { email?: string; error?: string; retryAfter?: number } = {},
  ): void {
    const csrf = formToken(req, s, clock.now());
    sendPage(
      res,
      s,
      status,
      signUpPage(s, t, {
        action: portalPath(s, '/oauth2/sign_up'),
        csrf: csrf.token,
        domains: [...people.options().signUp.emailDomains],
        ...o,
      }),
      { setCookie: csrf.setCookie, ...(o.retryAfter ? { headers: { 'retry-after': String(o.retryAfter) } } : {}) },
    );
  }

  function closed(res: ServerResponse, s: GateSettings): void {
    sendPage(
      res,
      s,
      404,
      infoPage(s, {
        title: t('signup.title'),
        message: t('invite.unknown'),
        links: [{ href: portalPath(s, '/oauth2/sign_in'), text: t('link.sign_in') }],
      }),
    );
  }

  async function show(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    if (!open()) return closed(res, s);
    page(req, res, s, 200);
  }

  async function submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = deps.settings();
    if (!open()) return closed(res, s);
    const { form, check } = await readPostedForm(req, s, clock.now());
    if (!check.ok) {
      logger.info({ reason: check.reason, form: 'sign_up' }, 'form refused');
      if (check.rule === 'origin') {
        sendPage(res, s, 403, infoPage(s, { title: t('form.refused_title'), message: t('form.refused'), error: true }));
        return;
      }
      return page(req, res, s, 400, { error: t('form.expired') });
    }
    const o = people.options().signUp;
    const email = (form.get('email') ?? '').trim();
    const m = EMAIL.exec(email);
    if (!m) return page(req, res, s, 400, { email, error: t('signup.bad_email', { domain: o.emailDomains[0] ?? 'example.org' }) });
    const domain = (m[1] ?? '').toLowerCase();
    if (!o.emailDomains.includes(domain))
      return page(req, res, s, 400, { email, error: t('signup.bad_domain', { domains: o.emailDomains.join(', ') }) });
    const ip = readOriginal(req, s.trusted).clientIp;
    const wait = people.signUpThrottle.retryAfter(email.toLowerCase(), ip);
    if (wait > 0) return page(req, res, s, 429, { email, error: t('signup.throttled', { seconds: wait }), retryAfter: wait });
    people.signUpThrottle.recordFailure(email.toLowerCase(), ip);
    // Decided: the answer below is the same for every allowed address. The rest happens after it.
    void mailLink(email, ip).catch((err: unknown) =>
      logger.error({ err: (err as Error).message, event: 'sign_up_failed' }, 'could not handle a sign-up'),
    );
    sendPage(
      res,
      s,
      200,
      infoPage(s, { title: t('signup.sent_title'), message: t('signup.sent', { email, hours: Math.round(o.linkLifetime / 3_600_000) }) }),
    );
  }

  async function mailLink(email: string, ip: string): Promise<void> {
    const s = deps.settings();
    const o = people.options().signUp;
    if (await people.emailTaken(email)) {
      ctx.audit({ actor: '-', action: 'sign_up', outcome: 'denied', detail: { reason: 'address_has_account', ip } });
      return;
    }
    const { invitation, token } = await people.invitations.create({
      groups: [...o.groups],
      expiresInMs: o.linkLifetime,
      email,
      maxUses: 1,
      createdBy: 'sign-up',
    });
    const link = portalUrl(s, '/oauth2/invite', { t: token });
    await people
      .mailer()
      .send({ kind: 'signup', to: email, vars: { site: s.publicUrl.host, link, expires: new Date(invitation.expiresAt).toISOString() } });
  }

  return { show, submit };
}
