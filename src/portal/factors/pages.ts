// The second-factor screens: the factor step of a sign-in (and the step-up screen, the same
// page asking only for what is missing), the security page (passkeys, authenticator app,
// recovery codes), the authenticator set-up, and the recovery codes shown once. Every form
// works as a plain form; a passkey ceremony needs the script (web/scripts/passkey.ts), which
// reads its options from data-* attributes and fills the form's `credential` field.
import { escapeHtml, layout, type PortalAt } from '../../web/index.ts';
import { PASSKEY_SCRIPTS } from '../../web/index.ts';
import { text } from '../../text/index.ts';
import type { PasskeyRecord } from '../../store/index.ts';

export interface Ceremony {
  options: unknown;
  state: string;
}

/** A registration: the passkey's options, and a security key's for the second step only (one state). */
export interface Registration extends Ceremony {
  keyOptions: unknown;
}

const json = (v: unknown): string => escapeHtml(JSON.stringify(v));

function errorBlock(error: string | undefined): string {
  return error ? `<p class="error" role="alert" id="err">${escapeHtml(error)}</p>` : '';
}

/** A passkey form: the button starts the ceremony (script); the answer goes in `credential`. */
function passkeyForm(action: string, csrf: string, c: Ceremony, label: string, extra = ''): string {
  return `<form method="post" action="${escapeHtml(action)}" data-webauthn="authenticate" data-options="${json(c.options)}">
<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<input type="hidden" name="state" value="${escapeHtml(c.state)}">
<input type="hidden" name="credential" value="">
${extra}<button type="submit">${escapeHtml(label)}</button>
<p class="muted" data-webauthn-status role="status" aria-live="polite"></p>
</form>`;
}

export function factorPage(
  at: PortalAt,
  opts: {
    title: string;
    intro: string;
    csrf: string;
    actions: { totp: string; recovery: string; passkey: string };
    cancel: { href: string; text: string };
    totp: boolean;
    recovery: boolean;
    passkey: Ceremony | null;
    error?: string;
  },
): string {
  const parts: string[] = [];
  if (opts.passkey) parts.push(passkeyForm(opts.actions.passkey, opts.csrf, opts.passkey, text('factor.use_passkey')));
  if (opts.totp) {
    if (parts.length) parts.push(`<p class="or">${escapeHtml(text('factor.or'))}</p>`);
    parts.push(`<form method="post" action="${escapeHtml(opts.actions.totp)}" novalidate>
<input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
<label for="code">${escapeHtml(text('factor.totp_label'))}</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="9" required autofocus${opts.error ? ' aria-describedby="err"' : ''}>
<button type="submit">${escapeHtml(text('factor.verify'))}</button>
</form>`);
  }
  if (opts.recovery) {
    parts.push(`<details>
<summary>${escapeHtml(text('factor.recovery_summary'))}</summary>
<form method="post" action="${escapeHtml(opts.actions.recovery)}" novalidate>
<input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
<label for="recovery">${escapeHtml(text('factor.recovery_label'))}</label>
<input type="text" id="recovery" name="code" autocomplete="off" autocapitalize="none" spellcheck="false" required>
<button type="submit">${escapeHtml(text('factor.recovery_submit'))}</button>
</form>
</details>`);
  }
  return layout(
    at,
    opts.title,
    `<h1>${escapeHtml(opts.title)}</h1>
<p>${escapeHtml(opts.intro)}</p>
${errorBlock(opts.error)}
${parts.join('\n')}
<p><a href="${escapeHtml(opts.cancel.href)}">${escapeHtml(opts.cancel.text)}</a></p>`,
    { scripts: opts.passkey ? PASSKEY_SCRIPTS : [] },
  );
}

export interface TotpSetup {
  svg: string;
  secret: string;
  pending: string;
}

/** The authenticator set-up: the QR code (SVG drawn here), the secret in text, and the first code. */
export function totpSetupPage(
  at: PortalAt,
  opts: { csrf: string; action: string; setup: TotpSetup; rd: string | null; back: string; error?: string },
): string {
  const svg = opts.setup.svg
    .replace('<svg ', '<svg role="img" aria-labelledby="qr-title" width="200" height="200" ')
    .replace(/(<svg[^>]*>)/, `$1<title id="qr-title">${escapeHtml(text('totp.qr_title'))}</title>`);
  const grouped = opts.setup.secret.replace(/(.{4})(?=.)/g, '$1 ');
  return layout(
    at,
    text('totp.title'),
    `<h1>${escapeHtml(text('totp.title'))}</h1>
<p>${escapeHtml(text('totp.lead'))}</p>
${errorBlock(opts.error)}
<figure>${svg}</figure>
<p>${escapeHtml(text('totp.key'))} <code id="secret">${escapeHtml(grouped)}</code></p>
<form method="post" action="${escapeHtml(opts.action)}" novalidate>
<input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
<input type="hidden" name="pending" value="${escapeHtml(opts.setup.pending)}">
${opts.rd ? `<input type="hidden" name="rd" value="${escapeHtml(opts.rd)}">` : ''}
<label for="code">${escapeHtml(text('factor.totp_label'))}</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="9" required autofocus${opts.error ? ' aria-describedby="err"' : ''}>
<button type="submit">${escapeHtml(text('totp.confirm'))}</button>
</form>
<p><a href="${escapeHtml(opts.back)}">${escapeHtml(text('factor.cancel'))}</a></p>`,
  );
}

/** Recovery codes, shown once. */
export function recoveryCodesPage(at: PortalAt, opts: { codes: string[]; next: string; nextText: string }): string {
  return layout(
    at,
    text('recovery.title'),
    `<h1>${escapeHtml(text('recovery.title'))}</h1>
<p>${escapeHtml(text('recovery.lead'))}</p>
<ul class="codes" aria-label="${escapeHtml(text('recovery.list'))}">
${opts.codes.map((c) => `<li><code>${escapeHtml(c)}</code></li>`).join('\n')}
</ul>
<a class="button" href="${escapeHtml(opts.next)}">${escapeHtml(opts.nextText)}</a>`,
  );
}

function when(ms: number | null): string {
  return ms === null ? text('security.never') : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

export function securityPage(
  at: PortalAt,
  opts: {
    username: string;
    csrf: string;
    base: (p: string) => string;
    rd: string | null;
    /** Enrolment: after the password when a factor is required (any), or for an app that asks for a passkey. */
    enrol: false | 'any' | 'passkey';
    totpEnabled: boolean;
    passkeysEnabled: boolean;
    totp: boolean;
    passkeys: PasskeyRecord[];
    recoveryLeft: number;
    register: Registration | null;
    notice?: string;
    error?: string;
  },
): string {
  const hidden = `<input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">${opts.rd ? `\n<input type="hidden" name="rd" value="${escapeHtml(opts.rd)}">` : ''}`;
  const sections: string[] = [];
  if (opts.passkeysEnabled) {
    const rows = opts.passkeys
      .map(
        (p, i) => `<tr>
<td><form method="post" action="${escapeHtml(opts.base('/oauth2/account/security/passkey/rename'))}" class="inline">
${hidden}
<input type="hidden" name="id" value="${escapeHtml(p.id)}">
<label for="name-${i}" class="visually-hidden">${escapeHtml(text('security.passkey_name_label', { n: i + 1 }))}</label>
<input type="text" id="name-${i}" name="name" value="${escapeHtml(p.name)}" maxlength="64" required>
<button type="submit">${escapeHtml(text('security.passkey_rename'))}</button>
</form></td>
<td>${escapeHtml(when(p.createdAt))}</td>
<td>${escapeHtml(when(p.lastUsedAt))}</td>
<td><form method="post" action="${escapeHtml(opts.base('/oauth2/account/security/passkey/remove'))}">
${hidden}
<input type="hidden" name="id" value="${escapeHtml(p.id)}">
<button type="submit" aria-label="${escapeHtml(text('security.passkey_remove_label', { name: p.name }))}">${escapeHtml(text('security.passkey_remove'))}</button>
</form></td>
</tr>`,
      )
      .join('\n');
    const table =
      opts.passkeys.length === 0
        ? `<p class="muted">${escapeHtml(text('security.passkeys_none'))}</p>`
        : `<table>
<caption class="visually-hidden">${escapeHtml(text('security.passkeys_caption'))}</caption>
<thead><tr><th scope="col">${escapeHtml(text('security.passkey_col_name'))}</th><th scope="col">${escapeHtml(text('security.passkey_col_added'))}</th><th scope="col">${escapeHtml(text('security.passkey_col_used'))}</th><th scope="col"><span class="visually-hidden">${escapeHtml(text('security.passkey_col_actions'))}</span></th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
    const add = opts.register
      ? `<form method="post" action="${escapeHtml(opts.base('/oauth2/account/security/passkey'))}" data-webauthn="register" data-options="${json(opts.register.options)}">
${hidden}
<input type="hidden" name="state" value="${escapeHtml(opts.register.state)}">
<input type="hidden" name="credential" value="">
<label for="passkey-name">${escapeHtml(text('security.passkey_new_name'))}</label>
<input type="text" id="passkey-name" name="name" maxlength="64" placeholder="${escapeHtml(text('security.passkey_new_placeholder'))}">
<button type="submit">${escapeHtml(text('security.passkey_add'))}</button>
<p class="muted" id="key-only-hint">${escapeHtml(text('security.key_only_hint'))}</p>
<button type="submit" class="provider" data-options="${json(opts.register.keyOptions)}" aria-describedby="key-only-hint">${escapeHtml(text('security.key_only_add'))}</button>
<p class="muted" data-webauthn-status role="status" aria-live="polite"></p>
</form>`
      : '';
    sections.push(`<h2>${escapeHtml(text('security.passkeys'))}</h2>\n${table}\n${add}`);
  }
  if (opts.totpEnabled) {
    const body = opts.totp
      ? `<p>${escapeHtml(text('security.totp_on'))}</p>
<form method="post" action="${escapeHtml(opts.base('/oauth2/account/security/totp/remove'))}">
${hidden}
<button type="submit" class="provider">${escapeHtml(text('security.totp_remove'))}</button>
</form>`
      : `<p class="muted">${escapeHtml(text('security.totp_none'))}</p>
<a class="button" href="${escapeHtml(opts.base(`/oauth2/account/security/totp${opts.rd ? `?rd=${encodeURIComponent(opts.rd)}` : ''}`))}">${escapeHtml(text('totp.title'))}</a>`;
    sections.push(`<h2>${escapeHtml(text('security.totp'))}</h2>\n${body}`);
  }
  if (opts.totp || opts.passkeys.length > 0) {
    sections.push(`<h2>${escapeHtml(text('security.recovery'))}</h2>
<p>${escapeHtml(text(opts.recoveryLeft === 1 ? 'security.recovery_left_one' : 'security.recovery_left', { count: opts.recoveryLeft }))}</p>
<form method="post" action="${escapeHtml(opts.base('/oauth2/account/security/recovery'))}">
${hidden}
<button type="submit" class="provider">${escapeHtml(text('security.recovery_new'))}</button>
</form>`);
  }
  const intro = opts.enrol
    ? opts.enrol === 'passkey'
      ? `<p role="status">${escapeHtml(text('security.enrol_passkey'))}</p>`
      : `<p role="status">${escapeHtml(text('security.enrol_any'))}</p>`
    : `<p>${escapeHtml(text('security.signed_in_as'))} <strong>${escapeHtml(opts.username)}</strong>.</p>`;
  const notice = opts.notice ? `<p class="notice" role="status">${escapeHtml(opts.notice)}</p>` : '';
  return layout(
    at,
    text('security.title'),
    `<h1>${escapeHtml(text('security.title'))}</h1>
${intro}
${notice}
${errorBlock(opts.error)}
${sections.join('\n')}
<p><a href="${escapeHtml(opts.base('/oauth2/account'))}">${escapeHtml(text('security.back'))}</a></p>`,
    { wide: true, scripts: opts.register ? PASSKEY_SCRIPTS : [] },
  );
}
