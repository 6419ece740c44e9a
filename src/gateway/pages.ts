// Server-rendered HTML: one small stylesheet served under a content hash with immutable
// caching, no JavaScript, pages that work in any browser and with a screen reader.
import { createHash } from 'node:crypto';
import { escapeHtml } from '../http/index.ts';

export const STYLESHEET = `:root{color-scheme:light dark;--fg:#1b1f24;--bg:#f6f7f9;--card:#fff;--muted:#5b6470;--accent:#1f5fd6;--err:#b42318;--line:#d5d9e0}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--bg:#111418;--card:#1a1f26;--muted:#9aa4b1;--accent:#6ea0ff;--err:#ff8a80;--line:#2c333d}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:24rem;margin:10vh auto;padding:2rem;background:var(--card);border:1px solid var(--line);border-radius:12px}
main.wide{max-width:46rem}
h1{font-size:1.35rem;margin:0 0 1rem}p{margin:.5rem 0}.muted{color:var(--muted);font-size:.9rem}
label{display:block;font-weight:600;margin:.9rem 0 .3rem}
input[type=text],input[type=password]{width:100%;padding:.6rem .7rem;font:inherit;color:inherit;background:transparent;border:1px solid var(--line);border-radius:8px}
input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
button,.button{display:block;width:100%;margin-top:1.2rem;padding:.65rem;font:inherit;font-weight:600;color:#fff;background:var(--accent);border:0;border-radius:8px;cursor:pointer;text-align:center;text-decoration:none}
.provider{background:transparent;color:var(--fg);border:1px solid var(--line)}
.error{color:var(--err);border:1px solid var(--err);border-radius:8px;padding:.5rem .7rem;margin:.5rem 0}
.or{display:flex;align-items:center;gap:.6rem;color:var(--muted);margin:1.2rem 0 0}.or::before,.or::after{content:"";flex:1;border-top:1px solid var(--line)}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top;word-break:break-all}
code,pre{font-family:ui-monospace,monospace;font-size:.85rem}pre{white-space:pre-wrap;background:var(--bg);padding:.6rem;border-radius:8px}
`;

export const STYLESHEET_HASH = createHash('sha256').update(STYLESHEET).digest('hex').slice(0, 12);
/** The stylesheet's path; its content hash makes it safe to cache forever. */
export const STYLESHEET_PATH = `/oauth2/static/${STYLESHEET_HASH}/gatehouse.css`;


export function layout(title: string, body: string, opts: { wide?: boolean; base?: string } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)} · Gatehouse</title>
<link rel="stylesheet" href="${opts.base ?? ''}${STYLESHEET_PATH}">
</head>
<body>
<main${opts.wide ? ' class="wide"' : ''}>
${body}
</main>
</body>
</html>
`;
}

export function messagePage(title: string, message: string, link?: { href: string; text: string }): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
${link ? `<p><a class="button" href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>` : ''}`);
}

/**
 * Why the gate refused, as the visitor should read it:
 *   no-app       no rule covers this host and path (default deny): a config gap, not a
 *                verdict on the visitor; an anonymous visitor is never told they are signed in
 *   closed       the deciding rule refuses every visitor (`deny: true`), signed in or not
 *   not-allowed  signed in, and the deciding rule's subject (or an allowed_* restriction) does
 *                not admit this account
 *   malformed    the path holds an escape the gate never reads (policy/path.ts)
 */
export type DenyWhy = 'no-app' | 'closed' | 'not-allowed' | 'malformed';

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
    message: 'You are signed in, but your account is not allowed to open this page. If you think it should be, ask an administrator to add you to the right group.',
  },
  malformed: {
    title: 'Address not accepted',
    message: 'The address holds an encoding Gatehouse does not accept (an invalid percent escape, a control character or a double encoding).',
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
