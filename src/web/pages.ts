// Server-rendered HTML: the page layout, one small stylesheet served under a content hash with
// immutable caching (assets.ts), pages that work in any browser and with a screen reader. A page
// may load script assets (progressive enhancement only: every page works without them).
import { escapeHtml } from './respond.ts';
import { STYLESHEET, type Asset } from './assets.ts';
import { portalPath, portalUrl, type PortalAt } from './urls.ts';

/**
 * A whole page in the portal's layout. `at` places the stylesheet (and scripts) under publicUrl's
 * path. `scripts` are loaded deferred from their asset paths; the response must then allow them
 * (sendPage's `scripts`, which adds script-src 'self' to the CSP).
 */
export function layout(
  at: PortalAt,
  title: string,
  body: string,
  opts: { wide?: boolean; scripts?: readonly Asset[]; absolute?: boolean } = {},
): string {
  // A page served on another host (an app's) links the stylesheet on the portal's host.
  const css = opts.absolute === true ? portalUrl(at, STYLESHEET.path) : portalPath(at, STYLESHEET.path);
  let scripts = '';
  for (const a of opts.scripts ?? []) scripts += `<script src="${escapeHtml(portalPath(at, a.path))}" defer></script>\n`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)} · Gatehouse</title>
<link rel="stylesheet" href="${escapeHtml(css)}">
${scripts}</head>
<body>
<main${opts.wide ? ' class="wide"' : ''}>
${body}
</main>
</body>
</html>
`;
}

export function messagePage(
  at: PortalAt,
  title: string,
  message: string,
  link?: { href: string; text: string },
  opts: { absolute?: boolean } = {},
): string {
  return layout(
    at,
    title,
    `<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
${link ? `<p><a class="button" href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>` : ''}`,
    opts,
  );
}

/**
 * Why the gate refused, as the visitor should read it:
 *   no-app       no rule covers this host and path (default deny): a config gap, not a
 *                verdict on the visitor; an anonymous visitor is never told they are signed in
 *   closed       the deciding rule refuses every visitor (`deny: true`), signed in or not
 *   not-allowed  signed in, and the deciding rule's subject (or an allowed_* restriction) does
 *                not admit this account
 *   malformed    the path holds an escape the gate never reads (policy/path.ts)
 *   ambiguous    servers would read the path differently, so it is never public (policy/path.ts)
 */
export type DenyWhy = 'no-app' | 'closed' | 'not-allowed' | 'malformed' | 'ambiguous';

const DENIED: Record<DenyWhy, { title: string; message: string }> = {
  'no-app': {
    title: 'No app here',
    message: 'Gatehouse has no app configured for this address, so nobody can open it, signed in or not.',
  },
  closed: {
    title: 'This address is closed',
    message: 'Gatehouse is configured to refuse every visitor here, signed in or not.',
  },
  'not-allowed': {
    title: 'Access denied',
    message:
      'You are signed in, but your account is not allowed to open this page. If you think it should be, ask an administrator to add you to the right group.',
  },
  malformed: {
    title: 'Address not accepted',
    message:
      'The address holds an encoding Gatehouse does not accept (an invalid percent escape, a control character or a double encoding).',
  },
  ambiguous: {
    title: 'Address not accepted',
    message:
      'Servers would read this address in different ways (an encoded slash or backslash, a ";" parameter or an encoded dot segment), so Gatehouse does not open it. Open the address without them.',
  },
};

/**
 * The page for a refused request. Self-contained (it is served on app hosts, where our
 * stylesheet path may belong to the app). It carries the request id that ties it to the log
 * line, and the command an administrator runs to see which rule decided.
 */
export function deniedPage(why: DenyWhy, ctx: { requestId: string; url: string }): string {
  const { title, message } = DENIED[why];
  const explainCmd = why === 'not-allowed' ? `gatehouse explain ${ctx.url} --user <your username>` : `gatehouse explain ${ctx.url}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:10vh auto;padding:0 1rem">
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
<p style="color:#5b6470;font-size:.9rem">Request id: <code>${escapeHtml(ctx.requestId)}</code>. An administrator can see which rule decided with <code>${escapeHtml(explainCmd)}</code>.</p>
</body></html>
`;
}
