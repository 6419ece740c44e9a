// The issuer's pages, in the portal's layout: consent, sign-out confirmation, signed out, errors.
import { escapeHtml, layout, messagePage, type PortalAt } from '../web/index.ts';

const SCOPE_TEXT: Record<string, string> = {
  openid: 'Know who you are (your user id)',
  profile: 'Your name and username',
  email: 'Your email address',
  groups: 'The groups you belong to',
  offline_access: 'Stay signed in when you are away (refresh tokens)',
};

export function consentPage(opts: {
  clientName: string;
  scopes: string[];
  action: string;
  at: PortalAt;
  username: string;
  csrf: string;
  redirectHost?: string;
  onlyLocal?: boolean;
  staysConnected?: boolean;
}): string {
  const items = [...opts.scopes, ...(opts.staysConnected ? ['offline_access'] : [])]
    .map((s) => `<li>${escapeHtml(SCOPE_TEXT[s] ?? s)}</li>`)
    .join('\n');
  // The name is the client's own claim; the redirect host is where the answer really goes.
  const where = opts.redirectHost ? `\n<p>You will be sent back to <strong>${escapeHtml(opts.redirectHost)}</strong>.</p>` : '';
  const local = opts.onlyLocal
    ? '\n<p class="warning">This app only returns to this computer (localhost): allow it only if you started it yourself just now.</p>'
    : '';
  return layout(
    opts.at,
    `Allow ${opts.clientName}?`,
    `<h1>Allow ${escapeHtml(opts.clientName)}?</h1>
<p>Signed in as <strong>${escapeHtml(opts.username)}</strong>. <strong>${escapeHtml(opts.clientName)}</strong> asks to:</p>
<ul>
${items}
</ul>${where}${local}
<form method="post" action="${escapeHtml(opts.action)}">
<input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`,
  );
}

export function logoutPage(at: PortalAt, formHtml: string, clientName: string | null): string {
  return layout(
    at,
    'Sign out',
    `<h1>Sign out?</h1>
<p>${clientName ? `${escapeHtml(clientName)} asks to sign you out. ` : ''}This signs you out of every app that uses Gatehouse.</p>
${formHtml}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button>
<button type="submit" form="op.logoutForm" class="secondary">Stay signed in</button>`,
  );
}

export function signedOutPage(at: PortalAt): string {
  return messagePage(at, 'Signed out', 'You are signed out of every app.');
}

export function errorPage(at: PortalAt, title: string, message: string): string {
  return messagePage(at, title, message);
}
