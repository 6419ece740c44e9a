// The portal's pages. One screen for username and password, with a button per upstream
// provider beside it (the connectors add them), labelled fields, errors announced to screen
// readers, no JavaScript.
import { text } from '../text/index.ts';
import { escapeHtml, layout, PASSKEY_SCRIPTS, type PortalAt } from '../web/index.ts';
import type { Identity } from '../core/index.ts';

export interface ProviderButton {
  id: string;
  label: string;
  href: string;
}

export function signInPage(opts: {
  action: string;
  rd: string;
  csrf: string;
  error?: string;
  username?: string;
  providers: ProviderButton[];
  localAccounts: boolean;
  at: PortalAt;
  /** Passwordless sign-in with a passkey: the ceremony's options and sealed state, and where the answer goes. */
  passkey?: { options: unknown; state: string; action: string; autofill: boolean };
  /** "Forgot your password?" and "Sign up", when they can work. */
  links?: { forgot?: string; signUp?: string };
}): string {
  const err = opts.error ? `<p class="error" role="alert" id="err">${escapeHtml(opts.error)}</p>` : '';
  const providers = opts.providers
    .map(
      (p) =>
        `<a class="button provider" href="${escapeHtml(p.href)}">${escapeHtml(text('signin.with_provider', { provider: p.label }))}</a>`,
    )
    .join('\n');
  const form = opts.localAccounts
    ? `<form method="post" action="${escapeHtml(opts.action)}" novalidate>
<input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
<input type="hidden" name="rd" value="${escapeHtml(opts.rd)}">
<label for="username">${escapeHtml(text('field.username'))}</label>
<input type="text" id="username" name="username" autocomplete="${opts.passkey ? 'username webauthn' : 'username'}" autocapitalize="none" spellcheck="false" required autofocus value="${escapeHtml(opts.username ?? '')}"${opts.error ? ' aria-describedby="err"' : ''}>
<label for="password">${escapeHtml(text('signin.password'))}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">${escapeHtml(text('signin.submit'))}</button>
</form>${opts.links?.forgot ? `\n<p><a href="${escapeHtml(opts.links.forgot)}">${escapeHtml(text('signin.forgot'))}</a></p>` : ''}`
    : '';
  const signUp = opts.links?.signUp
    ? `<p class="muted">${escapeHtml(text('signin.new_here'))} <a href="${escapeHtml(opts.links.signUp)}">${escapeHtml(text('signin.sign_up'))}</a></p>`
    : '';
  // The passkey form: the script runs the ceremony (the button, or the username field's
  // autofill) and submits the answer; without script the button says passkeys need it.
  const passkey = opts.passkey
    ? `<form method="post" action="${escapeHtml(opts.passkey.action)}" data-webauthn="authenticate" data-autofill="${opts.passkey.autofill ? 'true' : 'false'}" data-options="${escapeHtml(JSON.stringify(opts.passkey.options))}">
<input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
<input type="hidden" name="rd" value="${escapeHtml(opts.rd)}">
<input type="hidden" name="state" value="${escapeHtml(opts.passkey.state)}">
<input type="hidden" name="credential" value="">
<button type="submit" class="provider">${escapeHtml(text('signin.with_passkey'))}</button>
<p class="muted" data-webauthn-status role="status" aria-live="polite"></p>
</form>`
    : '';
  const others = [passkey, providers].filter(Boolean).join('\n');
  const or = form && others ? `<p class="or">${escapeHtml(text('signin.or'))}</p>` : '';
  return layout(
    opts.at,
    text('signin.title'),
    `<h1>${escapeHtml(text('signin.title'))}</h1>
${err}
${form}
${or}
${others}
${signUp}`,
    { scripts: opts.passkey ? PASSKEY_SCRIPTS : [] },
  );
}

export function homePage(opts: { identity: Identity; name: string | null; signOutAction: string; at: PortalAt; account?: string }): string {
  const id = opts.identity;
  return layout(
    opts.at,
    text('home.title'),
    `<h1>${escapeHtml(text('home.title'))}</h1>
<p>${escapeHtml(text('home.signed_in_as'))} <strong>${escapeHtml(opts.name ?? id.username)}</strong>${id.email ? ` (${escapeHtml(id.email)})` : ''}.</p>
${id.groups.length ? `<p class="muted">${escapeHtml(text('home.groups', { groups: id.groups.join(', ') }))}</p>` : ''}
${opts.account ? `<p><a href="${escapeHtml(opts.account)}">${escapeHtml(text('home.account'))}</a>: ${escapeHtml(text('home.account_what'))}</p>` : ''}
<form method="post" action="${escapeHtml(opts.signOutAction)}">
<button type="submit">${escapeHtml(text('home.sign_out'))}</button>
</form>`,
  );
}

/** A sign-in that could not finish: what happened, and links to go on (never an automatic redirect: no loop). */
export function failurePage(opts: { title: string; message: string; links: { href: string; text: string }[]; at: PortalAt }): string {
  const links = opts.links.map((l) => `<a class="button" href="${escapeHtml(l.href)}">${escapeHtml(l.text)}</a>`).join('\n');
  return layout(
    opts.at,
    opts.title,
    `<h1>${escapeHtml(opts.title)}</h1>
<p class="error" role="alert">${escapeHtml(opts.message)}</p>
${links ? `<p>${links}</p>` : ''}`,
  );
}
