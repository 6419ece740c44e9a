// The pages of people's own flows: enrolment by invitation, sign-up, password reset, and the
// account page. Text comes from the catalogue (text/), every value through escapeHtml; forms post
// without JavaScript; every field has a label, hints and errors are tied to their field
// (aria-describedby) and errors are announced (role="alert").
import { escapeHtml, layout, PASSKEY_SCRIPTS, type PortalAt } from '../web/index.ts';
import type { Text } from '../text/index.ts';

const e = escapeHtml;

export interface Button {
  label: string;
  href?: string;
  action?: string;
  fields?: Record<string, string>;
}

function alert(msg: string | undefined, id = 'err'): string {
  return msg ? `<p class="error" role="alert" id="${id}">${e(msg)}</p>` : '';
}

function notice(msg: string | undefined): string {
  return msg ? `<p class="notice" role="status">${e(msg)}</p>` : '';
}

function hidden(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${e(k)}" value="${e(v)}">`)
    .join('\n');
}

/** A field with its label and hint; the error (when it is about this field) is described by it too. */
function field(o: {
  id: string;
  type: string;
  label: string;
  hint?: string;
  value?: string;
  autocomplete: string;
  error?: boolean;
  autofocus?: boolean;
  extra?: string;
}): string {
  const described = [o.hint ? `${o.id}-hint` : '', o.error ? 'err' : ''].filter(Boolean).join(' ');
  return `<label for="${o.id}">${e(o.label)}</label>
${o.hint ? `<p class="muted" id="${o.id}-hint">${e(o.hint)}</p>` : ''}
<input type="${o.type}" id="${o.id}" name="${o.id}" autocomplete="${o.autocomplete}"${o.type === 'text' || o.type === 'email' ? ' autocapitalize="none" spellcheck="false"' : ''} required${o.autofocus ? ' autofocus' : ''}${o.value ? ` value="${e(o.value)}"` : ''}${described ? ` aria-describedby="${described}"` : ''}${o.error ? ' aria-invalid="true"' : ''}${o.extra ?? ''}>`;
}

export function invitePage(
  at: PortalAt,
  t: Text,
  o: {
    action: string;
    csrf: string;
    token: string;
    rd: string;
    site: string;
    groups: string[];
    username?: string;
    error?: string;
    errorField?: 'username' | 'password';
    providers: { label: string; href: string }[];
    minPassword: number;
    /** A passkey instead of a password: the registration's options and sealed state (the page loads PASSKEY_SCRIPTS). */
    passkey?: { options: unknown; state: string };
  },
): string {
  // The passkey button submits the same form (the username goes along): the script runs the
  // ceremony with the typed username as the passkey's name and posts the answer in `credential`;
  // without script the button posts with=passkey and the page says passkeys need it.
  const passkey = o.passkey
    ? `<p class="or">${e(t('invite.or'))}</p>
<p class="muted" id="passkey-hint">${e(t('invite.passkey_hint'))}</p>
<button type="submit" name="with" value="passkey" class="provider" data-options="${e(JSON.stringify(o.passkey.options))}" aria-describedby="passkey-hint">${e(t('invite.passkey'))}</button>
<p class="muted" data-webauthn-status role="status" aria-live="polite"></p>`
    : '';
  const providers = o.providers
    .map((p) => `<a class="button provider" href="${e(p.href)}">${e(t('invite.with_provider', { provider: p.label }))}</a>`)
    .join('\n');
  return layout(
    at,
    t('invite.title'),
    `<h1>${e(t('invite.title'))}</h1>
<p>${e(t('invite.lead', { site: o.site }))}</p>
${o.groups.length ? `<p class="muted">${e(t('invite.groups', { groups: o.groups.join(', ') }))}</p>` : ''}
${alert(o.error)}
<form method="post" action="${e(o.action)}" novalidate${o.passkey ? ' data-webauthn="register" data-username-field="username"' : ''}>
${hidden({ csrf: o.csrf, t: o.token, rd: o.rd, ...(o.passkey ? { state: o.passkey.state, credential: '' } : {}) })}
${field({ id: 'username', type: 'text', label: t('field.username'), hint: t('field.username_hint'), value: o.username ?? '', autocomplete: 'username', error: o.errorField === 'username', autofocus: true, extra: ' maxlength="64"' })}
${field({ id: 'password', type: 'password', label: t('field.new_password'), hint: t('field.password_hint', { min: o.minPassword }), autocomplete: 'new-password', error: o.errorField === 'password' })}
<button type="submit">${e(t('invite.submit'))}</button>
${passkey}
</form>
${providers ? `<p class="or">${e(t('invite.or'))}</p>\n${providers}` : ''}`,
    { scripts: o.passkey ? PASSKEY_SCRIPTS : [] },
  );
}

export function signUpPage(
  at: PortalAt,
  t: Text,
  o: { action: string; csrf: string; domains: string[]; email?: string; error?: string },
): string {
  return layout(
    at,
    t('signup.title'),
    `<h1>${e(t('signup.title'))}</h1>
<p>${e(t('signup.lead', { domains: o.domains.join(', ') }))}</p>
${alert(o.error)}
<form method="post" action="${e(o.action)}" novalidate>
${hidden({ csrf: o.csrf })}
${field({ id: 'email', type: 'email', label: t('field.email'), value: o.email ?? '', autocomplete: 'email', error: o.error !== undefined, autofocus: true })}
<button type="submit">${e(t('signup.submit'))}</button>
</form>`,
  );
}

export function resetRequestPage(
  at: PortalAt,
  t: Text,
  o: { action: string; csrf: string; name?: string; error?: string; signIn: string },
): string {
  return layout(
    at,
    t('reset.request_title'),
    `<h1>${e(t('reset.request_title'))}</h1>
<p>${e(t('reset.request_lead'))}</p>
${alert(o.error)}
<form method="post" action="${e(o.action)}" novalidate>
${hidden({ csrf: o.csrf })}
${field({ id: 'name', type: 'text', label: t('field.username_or_email'), value: o.name ?? '', autocomplete: 'username', error: o.error !== undefined, autofocus: true })}
<button type="submit">${e(t('reset.request_submit'))}</button>
</form>
<p><a href="${e(o.signIn)}">${e(t('link.back_to_sign_in'))}</a></p>`,
  );
}

export function resetChoosePage(
  at: PortalAt,
  t: Text,
  o: { action: string; csrf: string; token: string; username: string; error?: string; minPassword: number },
): string {
  return layout(
    at,
    t('reset.choose_title'),
    `<h1>${e(t('reset.choose_title'))}</h1>
<p>${e(t('reset.choose_lead', { username: o.username }))}</p>
${alert(o.error)}
<form method="post" action="${e(o.action)}" novalidate>
${hidden({ csrf: o.csrf, t: o.token })}
<input type="text" name="username" value="${e(o.username)}" autocomplete="username" hidden>
${field({ id: 'password', type: 'password', label: t('field.new_password'), hint: t('field.password_hint', { min: o.minPassword }), autocomplete: 'new-password', error: o.error !== undefined, autofocus: true })}
<button type="submit">${e(t('reset.choose_submit'))}</button>
</form>`,
  );
}

/** A page that only says something, with links to go on. */
export function infoPage(
  at: PortalAt,
  o: { title: string; message: string; error?: boolean; links?: { href: string; text: string }[] },
): string {
  const links = (o.links ?? []).map((l) => `<a class="button" href="${e(l.href)}">${e(l.text)}</a>`).join('\n');
  return layout(
    at,
    o.title,
    `<h1>${e(o.title)}</h1>
<p${o.error ? ' class="error" role="alert"' : ''}>${e(o.message)}</p>
${links ? `<p>${links}</p>` : ''}`,
  );
}

export interface AccountView {
  username: string;
  name: string | null;
  email: string | null;
  emailVerified: boolean;
  groups: string[];
  hasPassword: boolean;
  sessions: { id: string; device: string; address: string; started: string; seen: string; current: boolean }[];
  apps: { client: string; label: string; scopes: string; since: string }[];
  identities: { connector: string; label: string; subject: string; login: string }[];
  linkable: { connector: string; label: string; href: string }[];
  activity: { when: string; how: string; address: string; ok: boolean }[];
  site: string;
}

function postButton(action: string, csrf: string, fields: Record<string, string>, label: string, ariaLabel: string): string {
  return `<form method="post" action="${e(action)}" class="inline">
${hidden({ csrf, ...fields })}
<button type="submit" aria-label="${e(ariaLabel)}">${e(label)}</button>
</form>`;
}

export function accountPage(
  at: PortalAt,
  t: Text,
  o: {
    action: string;
    csrf: string;
    v: AccountView;
    securityHref: string | null;
    signOut: string;
    done?: string;
    error?: string;
    errorAbout?: 'password';
  },
): string {
  const v = o.v;
  const none = `<span class="muted">${e(t('account.none'))}</span>`;
  const sessions = v.sessions
    .map(
      (s) => `<tr>
<td>${e(s.device)}${s.current ? ` <strong>(${e(t('account.session_this'))})</strong>` : ''}</td><td>${e(s.address)}</td><td><time>${e(s.started)}</time></td><td><time>${e(s.seen)}</time></td>
<td>${s.current ? '' : postButton(o.action, o.csrf, { op: 'end_session', sid: s.id }, t('account.session_end'), t('account.session_end_label', { device: s.device, address: s.address }))}</td>
</tr>`,
    )
    .join('\n');
  const apps = v.apps
    .map(
      (a) => `<tr><td>${e(a.label)}</td><td>${e(a.scopes)}</td><td><time>${e(a.since)}</time></td>
<td>${postButton(o.action, o.csrf, { op: 'revoke_app', client: a.client }, t('account.app_revoke'), t('account.app_revoke_label', { app: a.label }))}</td></tr>`,
    )
    .join('\n');
  const identities = v.identities
    .map(
      (i) => `<tr><td>${e(i.label)}</td><td>${e(i.login)}</td>
<td>${postButton(o.action, o.csrf, { op: 'unlink', connector: i.connector }, t('account.identity_unlink'), t('account.identity_unlink_label', { provider: i.label }))}</td></tr>`,
    )
    .join('\n');
  const activity = v.activity
    .map(
      (a) =>
        `<tr><td><time>${e(a.when)}</time></td><td>${e(a.how)}</td><td>${e(a.address)}</td><td>${e(t(a.ok ? 'account.activity_ok' : 'account.activity_denied'))}</td></tr>`,
    )
    .join('\n');
  const passwordError = o.errorAbout === 'password' ? o.error : undefined;
  const password = v.hasPassword
    ? `<p class="muted">${e(t('account.password_lead'))}</p>
${alert(passwordError, 'err')}
<form method="post" action="${e(o.action)}" novalidate>
${hidden({ csrf: o.csrf, op: 'password' })}
<input type="text" name="username" value="${e(v.username)}" autocomplete="username" hidden>
${field({ id: 'current', type: 'password', label: t('field.current_password'), autocomplete: 'current-password', error: passwordError !== undefined })}
${field({ id: 'password', type: 'password', label: t('field.new_password'), hint: t('field.password_hint', { min: 8 }), autocomplete: 'new-password', error: passwordError !== undefined })}
<button type="submit">${e(t('account.password_submit'))}</button>
</form>`
    : `<p>${e(t('account.password_none', { providers: v.identities.map((i) => i.label).join(', ') || '-' }))}</p>`;
  return layout(
    at,
    t('account.title'),
    `<h1>${e(t('account.title'))}</h1>
${notice(o.done)}
${o.errorAbout === undefined ? alert(o.error) : ''}
<section aria-labelledby="h-profile">
<h2 id="h-profile">${e(t('account.profile'))}</h2>
<dl>
<dt>${e(t('account.username'))}</dt><dd>${e(v.username)}${v.name ? ` (${e(v.name)})` : ''}</dd>
<dt>${e(t('account.email'))}</dt><dd>${v.email ? `${e(v.email)}${v.emailVerified ? '' : ` <span class="muted">${e(t('account.email_unverified'))}</span>`}` : none}</dd>
<dt>${e(t('account.groups'))}</dt><dd>${v.groups.length ? e(v.groups.join(', ')) : none}</dd>
</dl>
${o.securityHref ? `<p><a href="${e(o.securityHref)}">${e(t('account.security_link'))}</a></p>` : ''}
</section>
<section aria-labelledby="h-password">
<h2 id="h-password">${e(t('account.password'))}</h2>
${password}
</section>
<section aria-labelledby="h-sessions">
<h2 id="h-sessions">${e(t('account.sessions'))}</h2>
<p class="muted">${e(t('account.sessions_lead'))}</p>
<table>
<thead><tr><th scope="col">${e(t('account.session_device'))}</th><th scope="col">${e(t('account.session_address'))}</th><th scope="col">${e(t('account.session_started'))}</th><th scope="col">${e(t('account.session_seen'))}</th><th scope="col"><span class="visually-hidden">${e(t('account.session_end'))}</span></th></tr></thead>
<tbody>
${sessions}
</tbody>
</table>
${v.sessions.length > 1 ? postButton(o.action, o.csrf, { op: 'end_others' }, t('account.sessions_end_others'), t('account.sessions_end_others')) : ''}
</section>
<section aria-labelledby="h-apps">
<h2 id="h-apps">${e(t('account.apps'))}</h2>
<p class="muted">${e(t('account.apps_lead', { site: v.site }))}</p>
${
  v.apps.length
    ? `<table>
<thead><tr><th scope="col">${e(t('account.app'))}</th><th scope="col">${e(t('account.app_scopes'))}</th><th scope="col">${e(t('account.app_since'))}</th><th scope="col"><span class="visually-hidden">${e(t('account.app_revoke'))}</span></th></tr></thead>
<tbody>
${apps}
</tbody>
</table>`
    : `<p>${e(t('account.apps_none'))}</p>`
}
</section>
<section aria-labelledby="h-identities">
<h2 id="h-identities">${e(t('account.identities'))}</h2>
${
  v.identities.length
    ? `<table>
<thead><tr><th scope="col">${e(t('account.provider'))}</th><th scope="col">${e(t('account.provider_account'))}</th><th scope="col"><span class="visually-hidden">${e(t('account.identity_unlink'))}</span></th></tr></thead>
<tbody>
${identities}
</tbody>
</table>`
    : `<p>${e(t('account.identities_none'))}</p>`
}
${v.linkable.map((l) => `<p><a href="${e(l.href)}">${e(t('account.identity_link', { provider: l.label }))}</a></p>`).join('\n')}
</section>
<section aria-labelledby="h-activity">
<h2 id="h-activity">${e(t('account.activity'))}</h2>
${
  v.activity.length
    ? `<table>
<thead><tr><th scope="col">${e(t('account.activity_when'))}</th><th scope="col">${e(t('account.activity_how'))}</th><th scope="col">${e(t('account.activity_address'))}</th><th scope="col">${e(t('account.activity_result'))}</th></tr></thead>
<tbody>
${activity}
</tbody>
</table>`
    : `<p>${e(t('account.activity_none'))}</p>`
}
</section>
<form method="post" action="${e(o.signOut)}">
<button type="submit" class="provider">${e(t('account.sign_out'))}</button>
</form>`,
    { wide: true },
  );
}
