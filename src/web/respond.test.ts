import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { GatehouseError, MemoryLogger } from '../core/index.ts';
import {
  applySecurityHeaders,
  contentSecurityPolicy,
  escapeHtml,
  readForm,
  readJson,
  redirect,
  securityHeaders,
  sendError,
  sendHtml,
  sendJson,
  sendText,
} from './respond.ts';

const logger = new MemoryLogger();
const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>> = {
  '/json': (_q, r) => sendJson(r, 201, { a: 'é' }, { 'x-extra': 'yes' }),
  '/html': (_q, r) => sendHtml(r, 200, '<p>hi</p>'),
  '/html-own-csp': (_q, r) => {
    r.setHeader('content-security-policy', "default-src 'self'");
    sendHtml(r, 200, '<p>hi</p>');
  },
  '/text': (_q, r) => {
    r.setHeader('cache-control', 'no-store');
    sendText(r, 200, 'ok');
  },
  '/redirect': (_q, r) => redirect(r, 303, 'https://app.example.org/after?x=1'),
  '/forbidden': (q, r) => sendError(r, q, new GatehouseError('forbidden', 'user bob is not in group admins'), logger, 'req-1'),
  '/boom': (q, r) => sendError(r, q, new Error('secret stuff at db password=hunter2'), logger, 'req-2'),
  '/late': (q, r) => {
    r.writeHead(200, { 'content-length': '100' });
    r.write('partial');
    sendError(r, q, new Error('late'), logger, 'req-3');
  },
  '/secure': (_q, r) => {
    applySecurityHeaders(r, { hsts: true });
    sendText(r, 200, 'x');
  },
  '/insecure': (_q, r) => {
    applySecurityHeaders(r);
    sendText(r, 200, 'x');
  },
  '/form': async (q, r) => {
    try {
      sendJson(r, 200, Object.fromEntries(await readForm(q, 32)));
    } catch (e) {
      sendError(r, q, e, logger, 'req-f');
    }
  },
  '/json-body': async (q, r) => {
    try {
      sendJson(r, 200, { got: await readJson(q, 64) });
    } catch (e) {
      sendError(r, q, e, logger, 'req-j');
    }
  },
};
const server = createServer((req, res) => {
  void routes[(req.url ?? '').split('?')[0] ?? '']?.(req, res);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
after(() => server.close());

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}
function call(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | string[] } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const chunks = opts.body === undefined ? [] : Array.isArray(opts.body) ? opts.body : [opts.body];
    for (const c of chunks) req.write(c);
    req.end();
  });
}

function pick(h: Got['headers'], ...names: string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((n) => [n, h[n]]));
}

test('sendJson: exact type, length and extra headers', async () => {
  const r = await call('/json');
  assert.equal(r.status, 201);
  assert.equal(r.body, '{"a":"é"}');
  assert.deepEqual(pick(r.headers, 'content-type', 'content-length', 'x-extra'), {
    'content-type': 'application/json; charset=utf-8',
    'content-length': '10',
    'x-extra': 'yes',
  });
});

test('sendHtml adds the HTML security headers unless a policy is set', async () => {
  const r = await call('/html');
  assert.equal(r.body, '<p>hi</p>');
  assert.deepEqual(
    pick(
      r.headers,
      'content-type',
      'content-security-policy',
      'x-content-type-options',
      'referrer-policy',
      'x-frame-options',
      'cross-origin-opener-policy',
      'strict-transport-security',
    ),
    {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
      'x-frame-options': 'DENY',
      'cross-origin-opener-policy': 'same-origin',
      'strict-transport-security': undefined,
    },
  );
  const own = await call('/html-own-csp');
  assert.equal(own.headers['content-security-policy'], "default-src 'self'");
  assert.equal(own.headers['x-frame-options'], undefined);
});

test('sendText', async () => {
  const r = await call('/text');
  assert.deepEqual(
    { status: r.status, body: r.body, ...pick(r.headers, 'content-type', 'content-length', 'cache-control') },
    { status: 200, body: 'ok', 'content-type': 'text/plain; charset=utf-8', 'content-length': '2', 'cache-control': 'no-store' },
  );
});

test('redirect: status, Location, no-store, empty body', async () => {
  const r = await call('/redirect');
  assert.deepEqual(
    { status: r.status, body: r.body, ...pick(r.headers, 'location', 'cache-control', 'content-length') },
    { status: 303, body: '', location: 'https://app.example.org/after?x=1', 'cache-control': 'no-store', 'content-length': '0' },
  );
});

test('HSTS only when asked for (https public URL)', async () => {
  assert.equal((await call('/secure')).headers['strict-transport-security'], 'max-age=31536000');
  const insecure = await call('/insecure');
  assert.equal(insecure.headers['strict-transport-security'], undefined);
  assert.equal(insecure.headers['content-security-policy'], CSP);
  assert.deepEqual(
    securityHeaders(true).map(([k]) => k),
    [
      'x-content-type-options',
      'referrer-policy',
      'x-frame-options',
      'cross-origin-opener-policy',
      'content-security-policy',
      'strict-transport-security',
    ],
  );
  assert.equal(securityHeaders(false).length, 5);
});

test('contentSecurityPolicy lists extra form-action origins and refuses anything else', () => {
  assert.equal(
    contentSecurityPolicy({ formAction: ['https://app.example.org', 'http://localhost:8080'], script: true }),
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; script-src 'self'; form-action 'self' https://app.example.org http://localhost:8080",
  );
  for (const bad of ['https://a.example.org; script-src *', "'unsafe-inline'", 'https://a.example.org/path', 'javascript:x']) {
    assert.throws(
      () => contentSecurityPolicy({ formAction: [bad] }),
      (e: unknown) => e instanceof GatehouseError && e.kind === 'internal',
    );
  }
});

test('sendError: RFC code and short description to an API client, the reason to the log only', async () => {
  logger.lines.length = 0;
  const r = await call('/forbidden?code=SECRETCODE', { headers: { accept: 'application/json' } });
  assert.equal(r.status, 403);
  assert.equal(r.body, '{"error":"access_denied","error_description":"access is denied"}');
  assert.deepEqual(pick(r.headers, 'content-type', 'cache-control', 'x-content-type-options'), {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  assert.deepEqual(logger.lines, [
    {
      level: 'info',
      msg: 'request refused',
      fields: {
        requestId: 'req-1',
        status: 403,
        error: 'access_denied',
        method: 'GET',
        path: '/forbidden',
        kind: 'forbidden',
        detail: 'user bob is not in group admins',
      },
    },
  ]);
  assert.doesNotMatch(logger.text(), /SECRETCODE/);
  // No Accept at all (curl, a proxy): JSON too.
  assert.equal((await call('/forbidden')).headers['content-type'], 'application/json; charset=utf-8');
});

test('sendError: a browser gets a short HTML page with the request id', async () => {
  const r = await call('/forbidden', { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
  assert.equal(r.status, 403);
  assert.equal(
    r.body,
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1><p>access is denied</p><p>Request id: <code>req-1</code></p></body></html>',
  );
  assert.deepEqual(pick(r.headers, 'content-type', 'cache-control', 'content-security-policy'), {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': CSP,
  });
});

test('sendError: an unexpected error is a bare 500; its message and stack go to the log only', async () => {
  logger.lines.length = 0;
  for (const accept of ['application/json', 'text/html']) {
    const r = await call('/boom', { headers: { accept } });
    assert.equal(r.status, 500);
    assert.doesNotMatch(r.body, /secret|hunter2|respond\.test|at /);
  }
  assert.equal((await call('/boom')).body, '{"error":"server_error","error_description":"internal error"}');
  const line = logger.lines[0];
  assert.equal(line?.level, 'error');
  assert.equal(line?.msg, 'request failed');
  assert.equal(line?.fields.requestId, 'req-2');
  assert.match(String((line?.fields.err as Error).stack), /secret stuff/);
});

test('sendError after the response began cuts the connection', async () => {
  await assert.rejects(call('/late'), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET' || e.message === 'aborted');
});

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

test('readForm parses a urlencoded body', async () => {
  const r = await call('/form', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' },
    body: 'user=al%C3%AFce&pw=a+b',
  });
  assert.deepEqual({ status: r.status, body: JSON.parse(r.body) }, { status: 200, body: { user: 'alïce', pw: 'a b' } });
});

test('readForm: over the limit is 413 and the connection closes, declared or streamed', async () => {
  const declared = await call('/form', { method: 'POST', headers: FORM, body: 'x='.padEnd(33, 'y') });
  assert.deepEqual(
    { status: declared.status, body: declared.body, connection: declared.headers.connection },
    { status: 413, body: '{"error":"invalid_request","error_description":"the request body is too large"}', connection: 'close' },
  );
  // Chunked, no Content-Length: counted while reading.
  const streamed = await call('/form', {
    method: 'POST',
    headers: { ...FORM, 'transfer-encoding': 'chunked' },
    body: ['x=' + 'y'.repeat(20), 'y'.repeat(20)],
  });
  assert.equal(streamed.status, 413);
  assert.equal(streamed.headers.connection, 'close');
  // Exactly at the limit is fine.
  assert.equal((await call('/form', { method: 'POST', headers: FORM, body: 'x='.padEnd(32, 'y') })).status, 200);
});

test('readForm refuses other content types and encoded bodies', async () => {
  logger.lines.length = 0;
  const r = await call('/form', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x=1' });
  assert.deepEqual(
    { status: r.status, body: r.body },
    { status: 400, body: '{"error":"invalid_request","error_description":"the request is invalid"}' },
  );
  assert.equal(logger.lines[0]?.fields.detail, 'expected content-type application/x-www-form-urlencoded, got "text/plain"');
  await call('/form', { method: 'POST', body: 'x=1' });
  assert.equal(logger.lines[1]?.fields.detail, 'expected content-type application/x-www-form-urlencoded, got none');
  await call('/form', { method: 'POST', headers: { ...FORM, 'content-encoding': 'gzip' }, body: 'x=1' });
  assert.equal(logger.lines[2]?.fields.detail, 'content-encoding is not supported for request bodies');
});

test('readJson parses JSON and +json, refuses junk', async () => {
  assert.equal(
    (await call('/json-body', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":[1]}' })).body,
    '{"got":{"a":[1]}}',
  );
  assert.equal(
    (await call('/json-body', { method: 'POST', headers: { 'content-type': 'application/merge-patch+json' }, body: '1' })).body,
    '{"got":1}',
  );
  logger.lines.length = 0;
  assert.equal((await call('/json-body', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' })).status, 400);
  assert.equal(logger.lines[0]?.fields.detail, 'the request body is not valid JSON');
  assert.equal(
    (await call('/json-body', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' })).status,
    400,
  );
  assert.equal(logger.lines[1]?.fields.detail, 'expected content-type application/json, got "application/x-www-form-urlencoded"');
  assert.equal(
    (await call('/json-body', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `"${'x'.repeat(80)}"` })).status,
    413,
  );
});

test('escapeHtml escapes the five characters', () => {
  assert.equal(escapeHtml(`<a href="x" onclick='y'>&</a>`), '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
});

test('a raw HEAD request gets headers and no body', async () => {
  const text = await new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1');
    let d = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      d += c;
    });
    s.on('end', () => resolve(d));
    s.write('HEAD /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
  assert.match(text, /^HTTP\/1\.1 201 Created\r\n/);
  assert.match(text, /\r\ncontent-length: 10\r\n/);
  assert.ok(text.endsWith('\r\n\r\n'));
});
