// The second-factor screens: the factor step of a sign-in (and the step-up screen, the same
// page asking only for what is missing), the security page (passkeys, authenticator app,
// recovery codes), the authenticator set-up, and the recovery codes shown once. Every form
// works as a plain form; a passkey ceremony needs the script (web/scripts/passkey.ts), which
// reads its options from data-* attributes and fills the form's `credential` field.
import { escapeHtml, layout, type PortalAt } from '../../web/index.ts';
import { PASSKEY_SCRIPTS } from '../../web/index.ts';
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
  if (opts.passkey) parts.push(passkeyForm(opts.actions.passkey, opts.csrf, opts.passkey, 'Use a passkey or security key'));
  if (opts.totp) {
    if (parts.length) parts.push('<p class="or">or</p>');
    parts.push(`<form method="post" action="${escapeHtml(opts.actions.totp)}" novalidate>
<input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
<label for="code">Code from your authenticator app</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="9" required autofocus${opts.error ? ' aria-describedby="err"' : ''}>
<button type="submit">Verify</button>
</form>`);
  }
  if (opts.recovery) {
    parts.push(`<details>
<summary>Use a recovery code</summary>
<form method="post" action="${escapeHtml(opts.actions.recovery)}" novalidate>
<input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
<label for="recovery">Recovery code</label>
<input type="text" id="recovery" name="code" autocomplete="off" autocapitalize="none" spellcheck="false" required>
<button type="submit">Use this code</button>
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
    .replace(/(<svg[^>]*>)/, '$1<title id="qr-title">QR code for your authenticator app</title>');
  const grouped = opts.setup.secret.replace(/(.{4})(?=.)/g, '$1 ');
  return layout(
    at,
    'Set up an authenticator app',
    `<h1>Set up an authenticator app</h1>
<p>Scan this code with your authenticator app, or type the key below. Then enter the six-digit code it shows.</p>
${errorBlock(opts.error)}
<figure>${svg}</figure>
<p>Key: <code id="secret">${escapeHtml(grouped)}</code></p>
<form method="post" action="${escapeHtml(opts.action)}" novalidate>
<input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
<input type="hidden" name="pending" value="${escapeHtml(opts.setup.pending)}">
${opts.rd ? `<input type="hidden" name="rd" value="${escapeHtml(opts.rd)}">` : ''}
<label for="code">Code from your authenticator app</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="9" required autofocus${opts.error ? ' aria-describedby="err"' : ''}>
<button type="submit">Confirm</button>
</form>
<p><a href="${escapeHtml(opts.back)}">Cancel</a></p>`,
  );
}

/** Recovery codes, shown once. */
export function recoveryCodesPage(at: PortalAt, opts: { codes: string[]; next: string; nextText: string }): string {
  return layout(
    at,
    'Your recovery codes',
    `<h1>Your recovery codes</h1>
<p>Each code signs you in once if you lose your authenticator or passkeys. Keep them somewhere safe: they are shown only now.</p>
<ul class="codes" aria-label="Recovery codes">
${opts.codes.map((c) => `<li><code>${escapeHtml(c)}</code></li>`).join('\n')}
</ul>
<a class="button" href="${escapeHtml(opts.next)}">${escapeHtml(opts.nextText)}</a>`,
  );
}

function when(ms: number | null): string {
  return ms === null ? 'never' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
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
<label for="name-${i}" class="visually-hidden">Name of passkey ${i + 1}</label>
<input type="text" id="name-${i}" name="name" value="${escapeHtml(p.name)}" maxlength="64" required>
<button type="submit">Rename</button>
</form></td>
<td>${escapeHtml(when(p.createdAt))}</td>
<td>${escapeHtml(when(p.lastUsedAt))}</td>
<td><form method="post" action="${escapeHtml(opts.base('/oauth2/account/security/passkey/remove'))}">
${hidden}
<input type="hidden" name="id" value="${escapeHtml(p.id)}">
<button type="submit" aria-label="Remove ${escapeHtml(p.name)}">Remove</button>
</form></td>
</tr>`,
      )
      .join('\n');
    const table =
      opts.passkeys.length === 0
        ? '<p class="muted">No passkeys yet.</p>'
        : `<table>
<caption class="visually-hidden">Your passkeys and security keys</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Added</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
    const add = opts.register
      ? `<form method="post" action="${escapeHtml(opts.base('/oauth2/account/security/passkey'))}" data-webauthn="register" data-options="${json(opts.register.options)}">
${hidden}
<input type="hidden" name="state" value="${escapeHtml(opts.register.state)}">
<input type="hidden" name="credential" value="">
<label for="passkey-name">Name for the new passkey</label>
<input type="text" id="passkey-name" name="name" maxlength="64" placeholder="Laptop, phone, YubiKey…">
<button type="submit">Add a passkey or security key</button>
<p class="muted" id="key-only-hint">A security key without a PIN can be the second step after your password:</p>
<button type="submit" class="provider" data-options="${json(opts.register.keyOptions)}" aria-describedby="key-only-hint">Add a security key without a PIN</button>
<p class="muted" data-webauthn-status role="status" aria-live="polite"></p>
</form>`
      : '';
    sections.push(`<h2>Passkeys and security keys</h2>\n${table}\n${add}`);
  }
  if (opts.totpEnabled) {
    const body = opts.totp
      ? `<p>An authenticator app is set up.</p>
<form method="post" action="${escapeHtml(opts.base('/oauth2/account/security/totp/remove'))}">
${hidden}
<button type="submit" class="provider">Remove the authenticator app</button>
</form>`
      : `<p class="muted">No authenticator app yet.</p>
<a class="button" href="${escapeHtml(opts.base(`/oauth2/account/security/totp${opts.rd ? `?rd=${encodeURIComponent(opts.rd)}` : ''}`))}">Set up an authenticator app</a>`;
    sections.push(`<h2>Authenticator app</h2>\n${body}`);
  }
  if (opts.totp || opts.passkeys.length > 0) {
    sections.push(`<h2>Recovery codes</h2>
<p>${opts.recoveryLeft} unused recovery code${opts.recoveryLeft === 1 ? '' : 's'}.</p>
<form method="post" action="${escapeHtml(opts.base('/oauth2/account/security/recovery'))}">
${hidden}
<button type="submit" class="provider">Make new recovery codes</button>
</form>`);
  }
  const intro = opts.enrol
    ? opts.enrol === 'passkey'
      ? '<p role="status">This app asks for a passkey or security key. Add one to continue.</p>'
      : '<p role="status">Your account needs a second factor. Set one up to continue.</p>'
    : `<p>Signed in as <strong>${escapeHtml(opts.username)}</strong>.</p>`;
  const notice = opts.notice ? `<p class="notice" role="status">${escapeHtml(opts.notice)}</p>` : '';
  return layout(
    at,
    'Security',
    `<h1>Security</h1>
${intro}
${notice}
${errorBlock(opts.error)}
${sections.join('\n')}
<p><a href="${escapeHtml(opts.base('/oauth2/account'))}">Back to your account</a></p>`,
    { wide: true, scripts: opts.register ? PASSKEY_SCRIPTS : [] },
  );
}
