// Static assets: the stylesheet and the scripts pages load, each served from its own path under
// /oauth2/static/<content hash>/ with immutable caching (a changed file is a new path), nosniff
// and its exact type. Scripts are progressive enhancement only (a WebAuthn ceremony, a copy
// button): every page works without them, and they run under a strict CSP: script-src 'self'
// (the asset paths), never inline script. The composition root mounts every asset in ASSETS,
// at the root and under publicUrl's path.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PASSKEY_SOURCE } from './scripts/passkey.ts';
import { WEBAUTHN_BROWSER_SOURCE } from './scripts/webauthn-browser.ts';

export interface Asset {
  /** /oauth2/static/<hash>/<name>: the path at the root; pages place it under the base path (portalPath). */
  readonly path: string;
  readonly contentType: string;
  readonly body: string;
}

const CONTENT_TYPES = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8' } as const;

/** An asset named `name` (ending in .css or .js), its path fixed by a hash of its content. */
export function defineAsset(name: string, body: string): Asset {
  const ext = name.slice(name.lastIndexOf('.') + 1);
  if (!/^[a-z0-9-]+\.(css|js)$/.test(name))
    throw new Error(`asset name "${name}" must be lowercase letters, digits and dashes, ending in .css or .js`);
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return Object.freeze({ path: `/oauth2/static/${hash}/${name}`, contentType: CONTENT_TYPES[ext as keyof typeof CONTENT_TYPES], body });
}

const GATEHOUSE_CSS = `:root{color-scheme:light dark;--fg:#1b1f24;--bg:#f6f7f9;--card:#fff;--muted:#5b6470;--accent:#1f5fd6;--err:#b42318;--line:#d5d9e0}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--bg:#111418;--card:#1a1f26;--muted:#9aa4b1;--accent:#6ea0ff;--err:#ff8a80;--line:#2c333d}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:24rem;margin:10vh auto;padding:2rem;background:var(--card);border:1px solid var(--line);border-radius:12px}
main.wide{max-width:46rem}
h1{font-size:1.35rem;margin:0 0 1rem}p{margin:.5rem 0}.muted{color:var(--muted);font-size:.9rem}
label{display:block;font-weight:600;margin:.9rem 0 .3rem}
input[type=text],input[type=password],input[type=email]{width:100%;padding:.6rem .7rem;font:inherit;color:inherit;background:transparent;border:1px solid var(--line);border-radius:8px}
input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
button,.button{display:block;width:100%;margin-top:1.2rem;padding:.65rem;font:inherit;font-weight:600;color:#fff;background:var(--accent);border:0;border-radius:8px;cursor:pointer;text-align:center;text-decoration:none}
.provider{background:transparent;color:var(--fg);border:1px solid var(--line)}
.error{color:var(--err);border:1px solid var(--err);border-radius:8px;padding:.5rem .7rem;margin:.5rem 0}
.or{display:flex;align-items:center;gap:.6rem;color:var(--muted);margin:1.2rem 0 0}.or::before,.or::after{content:"";flex:1;border-top:1px solid var(--line)}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top;word-break:break-all}
h2{font-size:1.1rem;margin:1.6rem 0 .5rem}dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem 1rem;margin:.5rem 0}dt{font-weight:600}dd{margin:0}
.notice{border:1px solid var(--accent);border-radius:8px;padding:.5rem .7rem;margin:.5rem 0}
form.inline{display:inline;margin:0}form.inline button{display:inline-block;width:auto;margin:0;padding:.3rem .7rem;font-size:.9rem}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);clip-path:inset(50%);white-space:nowrap}
code,pre{font-family:ui-monospace,monospace;font-size:.85rem}pre{white-space:pre-wrap;background:var(--bg);padding:.6rem;border-radius:8px}
td form button{width:auto;margin:0;padding:.35rem .7rem}
figure{margin:1rem 0;text-align:center}figure svg{background:#fff;padding:.3rem;border-radius:8px}
ul.codes{columns:2;padding-left:1.2rem}
details{margin-top:1.2rem}summary{cursor:pointer;color:var(--accent)}
`;

export const STYLESHEET: Asset = defineAsset('gatehouse.css', GATEHOUSE_CSS);

/**
 * Every asset the product serves. A script for a page is a file of its own next to this one
 * (`scripts/<name>.ts` exporting its source as a string), defined with defineAsset and listed here.
 */
/** The WebAuthn ceremonies: @simplewebauthn/browser, then the portal's forms' script (both defer, run in this order). */
export const WEBAUTHN_BROWSER: Asset = defineAsset('webauthn-browser.js', WEBAUTHN_BROWSER_SOURCE);
export const PASSKEY: Asset = defineAsset('passkey.js', PASSKEY_SOURCE);
export const PASSKEY_SCRIPTS: readonly Asset[] = [WEBAUTHN_BROWSER, PASSKEY];

export const ASSETS: readonly Asset[] = [STYLESHEET, WEBAUTHN_BROWSER, PASSKEY];

/** The handler of one asset: GET and HEAD (the route table limits the methods). */
export function serveAsset(asset: Asset): (req: IncomingMessage, res: ServerResponse) => void {
  const headers = Object.freeze({
    'content-type': asset.contentType,
    'cache-control': 'public, max-age=31536000, immutable',
    'x-content-type-options': 'nosniff',
  });
  return (_req, res) => {
    res.writeHead(200, headers);
    res.end(asset.body);
  };
}
