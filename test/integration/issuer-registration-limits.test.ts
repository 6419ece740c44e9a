// Dynamic client registration open to the internet (RFC 7591, MCP authorization): redirect URIs
// of web clients (https or loopback) and native ones (custom schemes, loopback), field limits,
// a body limit answered 413 (also chunked), a per-address rate limit answered 429 with
// Retry-After, resource indicators compared in canonical form, unused clients expiring, and an
// audit event and a log line per registration that never hold the secret.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { ManualClock } from '../../src/core/index.ts';
import { send } from '../kit/http.ts';
import { ALICE, type Answer, BOB, type Instance, startInstance } from '../kit/server.ts';
import { codeFor, HTTPS, json, LOOPBACK_CB, MCP, mcpConfig, PortalClient, register, startMcpIssuer, token } from '../kit/mcp.ts';

const NATIVE = { token_endpoint_auth_method: 'none', application_type: 'native' };
const WEB = { token_endpoint_auth_method: 'none' };

/** A registration sent chunked (no Content-Length), in pieces. */
function registerChunked(port: number, pieces: string[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/oidc/reg',
        agent: false,
        headers: { ...HTTPS, 'content-type': 'application/json', connection: 'close' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            setCookies: [],
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    // The server may answer 413 and close before every piece is written.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    for (const p of pieces) req.write(p);
    req.end();
  });
}

describe('registration policy', () => {
  let inst: Instance;
  before(async () => {
    inst = await startMcpIssuer();
  });
  after(async () => {
    await inst.close();
  });

  test('redirect URIs: web clients https or loopback only; native clients keep custom schemes and loopback', async () => {
    const table: [Record<string, unknown>, string, number, string?][] = [
      [WEB, 'https://app.example.test/cb', 201],
      [WEB, 'http://127.0.0.1:33418/cb', 201],
      [WEB, 'http://[::1]:33418/cb', 201],
      [WEB, 'http://localhost:33418/cb', 201],
      [WEB, 'http://app.example.test/cb', 400, 'invalid_redirect_uri'],
      [WEB, 'http://10.0.0.5/cb', 400, 'invalid_redirect_uri'],
      [WEB, 'http://127.0.0.1.evil.example/cb', 400, 'invalid_redirect_uri'],
      [WEB, 'com.example.app:/cb', 400, 'invalid_redirect_uri'],
      [NATIVE, 'com.example.app:/cb', 201],
      [NATIVE, 'http://127.0.0.1:33418/cb', 201],
      [NATIVE, 'http://app.example.test/cb', 400, 'invalid_redirect_uri'],
    ];
    for (const [kind, uri, status, error] of table) {
      const r = await register(inst, { ...kind, redirect_uris: [uri] });
      assert.equal(r.status, status, `${String(kind.application_type ?? 'web')} ${uri}: ${r.body}`);
      if (error) assert.equal(json(r).error, error, uri);
    }
    // One bad URI among good ones refuses the whole registration.
    const mixed = await register(inst, { ...WEB, redirect_uris: ['https://app.example.test/cb', 'http://app.example.test/cb'] });
    assert.equal(mixed.status, 400);
    assert.deepEqual(json(mixed), {
      error: 'invalid_redirect_uri',
      error_description: "a web client's redirect_uris must use https, or http on a loopback address (127.0.0.1, [::1], localhost)",
    });
  });

  test('an update (RFC 7592 PUT) is screened the same way: an http redirect of a web client is refused, the client unchanged', async () => {
    const reg = json(await register(inst, { ...WEB, redirect_uris: ['https://app.example.test/cb'] }));
    const path = new URL(String(reg.registration_client_uri)).pathname;
    const put = (redirect: string, extra: Record<string, unknown> = {}) =>
      send(inst.port, {
        method: 'PUT',
        path,
        headers: { ...HTTPS, 'content-type': 'application/json', authorization: `Bearer ${String(reg.registration_access_token)}` },
        body: JSON.stringify({ client_id: reg.client_id, token_endpoint_auth_method: 'none', redirect_uris: [redirect], ...extra }),
      });
    const bad = await put('http://app.example.test/cb');
    assert.equal(bad.status, 400);
    assert.equal(json(bad).error, 'invalid_redirect_uri');
    const long = await put('https://app.example.test/cb', { client_name: 'n'.repeat(201) });
    assert.equal(long.status, 400);
    assert.equal(json(long).error, 'invalid_client_metadata');
    const read = await send(inst.port, { path, headers: { ...HTTPS, authorization: `Bearer ${String(reg.registration_access_token)}` } });
    assert.deepEqual(json(read).redirect_uris, ['https://app.example.test/cb']);
    const ok = await put('https://app.example.test/other');
    assert.equal(ok.status, 200, ok.body);
    assert.deepEqual(json(ok).redirect_uris, ['https://app.example.test/other']);
  });

  test('field limits: client_name at most 200 characters, lists at most 20, strings at most 2048; nothing stored when refused', async () => {
    assert.equal((await register(inst, { ...NATIVE, redirect_uris: [LOOPBACK_CB], client_name: 'n'.repeat(200) })).status, 201);
    const cases: [Record<string, unknown>, string][] = [
      [{ client_name: 'n'.repeat(201) }, 'client_name is longer than 200 characters'],
      [{ 'client_name#ja': 'n'.repeat(201) }, 'client_name is longer than 200 characters'],
      [{ client_uri: `https://app.example.test/${'p'.repeat(2048)}` }, 'client_uri is longer than 2048 characters'],
      [
        { redirect_uris: Array.from({ length: 21 }, (_, i) => `http://127.0.0.1:${3000 + i}/cb`) },
        'redirect_uris has more than 20 members',
      ],
      [{ redirect_uris: [`http://127.0.0.1:3000/${'p'.repeat(2048)}`] }, 'a member of redirect_uris is longer than 2048 characters'],
      [{ contacts: Array.from({ length: 21 }, (_, i) => `a${i}@example.test`) }, 'contacts has more than 20 members'],
      [{ software_statement_extra: { nested: true } }, 'software_statement_extra must not be an object'],
    ];
    const stored = async () => (await inst.running.store.oidc.list('Client', Date.now())).length;
    const before = await stored();
    for (const [extra, description] of cases) {
      const r = await register(inst, { ...NATIVE, redirect_uris: [LOOPBACK_CB], ...extra });
      assert.equal(r.status, 400, description);
      assert.deepEqual(json(r), { error: 'invalid_client_metadata', error_description: description });
    }
    assert.equal(await stored(), before);
  });

  test('a body over issuer.registrationLimits.maxBodyBytes (16 KiB): 413, with Content-Length or chunked', async () => {
    const big = JSON.stringify({ ...NATIVE, redirect_uris: [LOOPBACK_CB], client_name: 'x'.repeat(1024 * 1024) });
    const r = await register(inst, JSON.parse(big) as Record<string, unknown>);
    assert.equal(r.status, 413);
    // The 56 KB client_name that oidc-provider alone would have stored.
    assert.equal((await register(inst, { ...NATIVE, redirect_uris: [LOOPBACK_CB], client_name: 'x'.repeat(56 * 1024 - 200) })).status, 413);
    assert.deepEqual(json(r), { error: 'invalid_request', error_description: 'the request body is larger than 16384 bytes' });
    const chunked = await registerChunked(
      inst.port,
      Array.from({ length: 64 }, (_, i) => (i === 0 ? big.slice(0, 16 * 1024) : big.slice(i * 16 * 1024, (i + 1) * 16 * 1024))),
    );
    assert.equal(chunked.status, 413);
    // At the limit, chunked, the registration goes through (the body reaches oidc-provider whole).
    const ok = await registerChunked(inst.port, [
      '{"token_endpoint_auth_method":"none","application_type":"native",',
      `"redirect_uris":["${LOOPBACK_CB}"]}`,
    ]);
    assert.equal(ok.status, 201, ok.body);
  });

  test('resource indicators compare in canonical form: upper-case scheme and host, default port, dot segments', async () => {
    const reg = json(
      await register(inst, { ...NATIVE, redirect_uris: [LOOPBACK_CB], grant_types: ['authorization_code', 'refresh_token'] }),
    );
    const client = { clientId: String(reg.client_id), redirectUri: LOOPBACK_CB };
    for (const spelled of ['HTTPS://MCP.EXAMPLE.TEST/mcp', 'https://mcp.example.test:443/mcp', 'https://Mcp.Example.Test/x/../mcp']) {
      const { code, verifier } = await codeFor(new PortalClient(inst), client, { resource: spelled, scope: 'mcp:tools' });
      const t = await token(inst, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: LOOPBACK_CB,
        code_verifier: verifier,
        client_id: client.clientId,
        resource: spelled,
      });
      assert.equal(t.status, 200, `${spelled}: ${t.body}`);
      assert.equal(decodeJwt(String(json(t).access_token)).aud, MCP, spelled);
    }
    // The path keeps its case: another path is another resource.
    const { code, verifier } = await codeFor(new PortalClient(inst), client, { resource: MCP, scope: 'mcp:tools' });
    const wrong = await token(inst, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: LOOPBACK_CB,
      code_verifier: verifier,
      client_id: client.clientId,
      resource: 'https://mcp.example.test/MCP',
    });
    assert.equal(wrong.status, 400);
    assert.equal(json(wrong).error, 'invalid_target');
  });

  test('each registration: one audit event and one log line, with the client and the address, never the secret', async () => {
    const r = await register(
      inst,
      { redirect_uris: ['https://web.example.test/cb'], token_endpoint_auth_method: 'client_secret_basic', client_name: 'Web App' },
      { 'x-forwarded-for': '198.51.100.7' },
    );
    assert.equal(r.status, 201);
    const reg = json(r);
    const secret = String(reg.client_secret);
    assert.ok(secret.length > 20);
    const lines = inst.logger.lines.filter((l) => l.fields.event === 'client_registered' && l.fields.client === reg.client_id);
    assert.equal(lines.length, 1);
    assert.deepEqual(lines[0]?.fields, {
      event: 'client_registered',
      client: reg.client_id,
      name: 'Web App',
      redirectUris: ['https://web.example.test/cb'],
      applicationType: 'web',
      authMethod: 'client_secret_basic',
      ip: '198.51.100.7',
    });
    let events: Awaited<ReturnType<typeof inst.running.store.audit.list>> = [];
    for (let i = 0; i < 50 && events.length === 0; i++) {
      events = (await inst.running.store.audit.list({ limit: 500 })).filter(
        (e) => e.action === 'client_registered' && e.target === reg.client_id,
      );
      if (events.length === 0) await new Promise((res) => setImmediate(res));
    }
    assert.equal(events.length, 1);
    assert.equal(events[0]?.actor, 'anonymous@198.51.100.7');
    assert.deepEqual(events[0]?.detail, {
      name: 'Web App',
      redirectUris: ['https://web.example.test/cb'],
      applicationType: 'web',
      ip: '198.51.100.7',
    });
    assert.equal(inst.logger.text().includes(secret), false);
    assert.equal(JSON.stringify(await inst.running.store.audit.list({ limit: 500 })).includes(secret), false);
    assert.equal(inst.logger.text().includes(String(reg.registration_access_token)), false);
  });
});

describe('the per-address limit and the expiry of unused clients (frozen clock)', () => {
  let inst: Instance;
  let clock: ManualClock;
  const T0 = Date.UTC(2026, 0, 1);
  const H = 3_600_000;
  before(async () => {
    clock = new ManualClock(T0);
    inst = await startInstance({
      unwatched: true,
      clock,
      users: [ALICE, BOB],
      config: (dir) => mcpConfig(dir, { registrationLimits: { perAddress: 3, window: '1h', unusedClientLifetime: '1d' } }),
    });
  });
  after(async () => {
    await inst.close();
  });

  test('perAddress registrations per window, then 429 with Retry-After; another address is counted apart; the window passes', async () => {
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    for (let i = 0; i < 3; i++)
      assert.equal((await register(inst, { ...NATIVE, redirect_uris: [LOOPBACK_CB] }, from('203.0.113.1'))).status, 201);
    clock.advance(10 * 60_000);
    const refused = await register(inst, { ...NATIVE, redirect_uris: [LOOPBACK_CB] }, from('203.0.113.1'));
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['retry-after'], String(50 * 60));
    assert.deepEqual(json(refused), {
      error: 'temporarily_unavailable',
      error_description: 'too many registrations from this address; retry later',
    });
    assert.equal((await register(inst, { ...NATIVE, redirect_uris: [LOOPBACK_CB] }, from('203.0.113.2'))).status, 201);
    clock.advance(50 * 60_000);
    assert.equal((await register(inst, { ...NATIVE, redirect_uris: [LOOPBACK_CB] }, from('203.0.113.1'))).status, 201);
    // A client cannot pick its address: X-Forwarded-For from an untrusted peer is ignored (covered
    // by the forwarded-header suites); here every request came from the trusted loopback proxy.
  });

  test('a registered client unused for unusedClientLifetime is gone; each use extends its life', async () => {
    clock.advance(2 * H); // a fresh window for this address
    const reg = json(await register(inst, { ...NATIVE, redirect_uris: [LOOPBACK_CB] }, { 'x-forwarded-for': '203.0.113.50' }));
    const id = String(reg.client_id);
    const read = () =>
      send(inst.port, {
        path: new URL(String(reg.registration_client_uri)).pathname,
        headers: { ...HTTPS, authorization: `Bearer ${String(reg.registration_access_token)}` },
      });
    const authorize = () =>
      send(inst.port, {
        path: `/oidc/auth?${new URLSearchParams({ client_id: id, redirect_uri: LOOPBACK_CB, response_type: 'code', scope: 'mcp:tools', resource: MCP, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString()}`,
        headers: { ...HTTPS, accept: 'text/html' },
      });
    clock.advance(20 * H);
    // A use at 20 h (an authorization request): alive until 44 h.
    const used = await authorize();
    assert.ok(used.status === 303 || used.status === 302, `authorize: ${used.status} ${used.body.slice(0, 200)}`);
    clock.advance(10 * H); // 30 h: without the use it would have expired at 24 h
    assert.equal((await read()).status, 200);
    clock.advance(25 * H); // 55 h: the read at 30 h extended it to 54 h; now unused for 25 h
    const gone = await read();
    assert.equal(gone.status, 401, gone.body);
    const a = await authorize();
    assert.equal(a.status, 400);
    assert.match(a.body, /invalid_client/);
    // The sweep deletes the record (the issuer runs it hourly).
    assert.ok((await inst.running.store.oidc.deleteExpired(clock.now())) >= 1);
  });
});
