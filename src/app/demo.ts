// The built-in demo app, served behind the gate in reverse-proxy mode when Gatehouse runs on
// its embedded defaults: it shows a newcomer exactly what an app is told.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answer, escapeHtml, NO_STORE } from '../web/index.ts';

const IDENTITY_PREFIX = 'x-auth-request-';

export function demoPage(headers: [string, string][], signOut: string): string {
  const id = Object.fromEntries(
    headers.filter(([k]) => k.startsWith(IDENTITY_PREFIX)).map(([k, v]) => [k.slice(IDENTITY_PREFIX.length), v]),
  );
  const rows = headers
    .map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(k === 'cookie' ? '(hidden)' : v)}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Demo app · Gatehouse</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:5vh auto;padding:0 1rem}table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ccc;vertical-align:top;word-break:break-all}code,pre{background:#f2f2f2;padding:.1rem .3rem}</style></head>
<body>
<h1>Hello, ${escapeHtml(id['preferred-username'] || id['user'] || 'stranger')}</h1>
<p>This little app sits behind Gatehouse and has no login code of its own. Gatehouse checked your session and told it who you are:</p>
<table>
<tr><th scope="row">user</th><td>${escapeHtml(id['user'] ?? '')}</td></tr>
<tr><th scope="row">email</th><td>${escapeHtml(id['email'] ?? '')}</td></tr>
<tr><th scope="row">groups</th><td>${escapeHtml(id['groups'] ?? '')}</td></tr>
</table>
<h2>Every header the app received</h2>
<table>${rows}</table>
<h2>Without a session</h2>
<p>An API client gets a plain 401 instead of a redirect:</p>
<pre>curl -i -H 'Accept: application/json' http://localhost:4180/</pre>
<p><a href="${escapeHtml(signOut)}">Sign out</a></p>
</body></html>
`;
}

/** Start the demo app on a loopback port; it answers every path with the page. */
export async function startDemoApp(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const pairs: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([(req.rawHeaders[i] ?? '').toLowerCase(), req.rawHeaders[i + 1] ?? '']);
    if ((req.headers.accept ?? '').includes('application/json')) {
      answer(
        res,
        200,
        { 'content-type': 'application/json', 'cache-control': NO_STORE },
        JSON.stringify({ headers: Object.fromEntries(pairs.filter(([k]) => k !== 'cookie')) }),
      );
      return;
    }
    answer(res, 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': NO_STORE }, demoPage(pairs, '/oauth2/sign_out'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
