// PATCH of oidc-provider internals: the HTML `ctx.body` of its auto-submitting pages.
// Why: those pages (response_mode=form_post, and the logout step when the browser has no OpenID
// session) carry an inline script and post to the client. oidc-provider adds the script's hash
// only to a script-src directive, which our CSP (default-src 'none') has not: the browser blocked
// the script and the user was left on a blank "Submitting Callback" page; and form-action 'self'
// blocked a form_post to the client. This allows exactly that script (CSP3 hash-source) and the
// form's own origin.
// Proved by: test/e2e/public-url-path.test.ts (response_mode=form_post in Chromium) and
// test/unit/issuer-security.test.ts (the page's CSP names the script's hash).
import { createHash } from 'node:crypto';
import type Provider from 'oidc-provider';
import { contentSecurityPolicy } from '../../web/index.ts';

export function patchAutoSubmitCsp(provider: Provider, issuer: string): void {
  const own = new URL(issuer).origin;
  provider.use(async (ctx, next) => {
    await next();
    if (typeof ctx.body !== 'string' || !ctx.body.includes('<title>Submitting Callback</title>')) return;
    const script = /<script>([\s\S]*?)<\/script>/.exec(ctx.body)?.[1];
    const action = /<form method="post" action="(https?:\/\/[^/"?#]+)/i.exec(ctx.body)?.[1];
    if (script === undefined || action === undefined) return;
    let origin: string;
    try {
      origin = new URL(action).origin;
    } catch {
      return;
    }
    const digest = createHash('sha256').update(script, 'utf8').digest('base64');
    ctx.set(
      'content-security-policy',
      `${contentSecurityPolicy({ formAction: origin === own ? [] : [origin] })}; script-src 'sha256-${digest}'`,
    );
  });
}
