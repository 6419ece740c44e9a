// Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document): an https client_id
// URL with a path is fetched over real HTTPS on loopback (issuer.clientMetadata.allowPrivate on),
// checked (client_id equal to the URL, no client_secret, redirect listed, size limit), cached per
// Cache-Control; with allowPrivate off the same loopback URL is never fetched (SSRF protection).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { send } from '../kit/http.ts';
import { type Instance } from '../kit/server.ts';
import { authorizeVia, HTTPS, json, MCP, pkce, PortalClient, startMcpIssuer, token } from '../kit/mcp.ts';

// A self-signed certificate for 127.0.0.1 made for this suite only (valid until 2126); trusted
// in this test process alone, so the real fetch path (TLS included) runs unchanged.
const CERT = `-----BEGIN CERTIFICATE-----
MIIBkDCCATagAwIBAgIUJgyvokGdtxKgKIygNZ+ABXC/e6EwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyMzEyNDExMFoYDzIxMjYxMDMw
MTI0MTEwWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAT2rDeIpssCu8lnnvtV/gHzsrlVwQu63iBa4Bhgtm49qCdP3ebS3mM+
yqU10SeBfGw9Y377uCa9+9y51Dy5cXS4o2QwYjAdBgNVHQ4EFgQUoZcQT2kFoqG6
BJH/xIxhcgdy0kQwHwYDVR0jBBgwFoAUoZcQT2kFoqG6BJH/xIxhcgdy0kQwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC
IQC53RyROs3vL0X5eFSonwoLAqoahQ55+KoaVtiZ/h8VOgIgMYe/M8AerSAy6V0p
8WhdIS3xB3Pq+epUi0K38/IbDXU=
-----END CERTIFICATE-----
`;
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3nft69vuVdHk+BmO
Gc9V3VAALkfVHWy55ihMFzDuLQ2hRANCAAT2rDeIpssCu8lnnvtV/gHzsrlVwQu6
3iBa4Bhgtm49qCdP3ebS3mM+yqU10SeBfGw9Y377uCa9+9y51Dy5cXS4
-----END PRIVATE KEY-----
`;

const CB = 'http://127.0.0.1:7777/cb';
let docs: Server;
let origin = '';
const hits = new Map<string, number>();
const bodies = new Map<string, { body: string; headers?: Record<string, string> }>();

before(async () => {
  setDefaultCACertificates([...getCACertificates('default'), CERT]);
  docs = createServer({ cert: CERT, key: KEY }, (req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const d = bodies.get(path);
    if (!d) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', ...d.headers });
    res.end(d.body);
  });
  await new Promise<void>((r) => docs.listen(0, '127.0.0.1', r));
  origin = `https://127.0.0.1:${(docs.address() as AddressInfo).port}`;
  const doc = (
    path: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = { 'cache-control': 'max-age=3600' },
  ) => {
    bodies.set(path, {
      body: JSON.stringify({
        client_id: `${origin}${path}`,
        client_name: 'Doc Client',
        redirect_uris: [CB],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        ...extra,
      }),
      headers,
    });
  };
  doc('/good.json');
  doc('/fresh.json', {}, { 'cache-control': 'max-age=0' });
  doc('/mismatch.json', { client_id: 'https://other.example/client.json' });
  doc('/secret.json', { client_secret: 'shh-0123456789abcdef' });
  doc('/big.json', { client_name: 'x'.repeat(6000) });
});
after(async () => {
  await new Promise<void>((r) => docs.close(() => r()));
});

function authUrl(clientId: string, redirectUri = CB): string {
  return `/oidc/auth?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'mcp:tools', resource: MCP, code_challenge: pkce().challenge, code_challenge_method: 'S256', state: 's' }).toString()}`;
}

describe('with issuer.clientMetadata.allowPrivate (tests only)', () => {
  let inst: Instance;
  before(async () => {
    inst = await startMcpIssuer({ clientMetadata: { allowPrivate: true } });
  });
  after(async () => {
    await inst.close();
  });

  test('a metadata-document client signs in: consent shows its name, redirect host and the localhost warning; tokens for the resource', async () => {
    const id = `${origin}/good.json`;
    const { verifier, challenge } = pkce();
    const { location, consentPage } = await authorizeVia(new PortalClient(inst), {
      client_id: id,
      redirect_uri: CB,
      response_type: 'code',
      scope: 'mcp:tools',
      resource: MCP,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 's',
    });
    assert.match(consentPage ?? '', /<h1>Allow Doc Client\?<\/h1>/);
    assert.match(consentPage ?? '', /You will be sent back to <strong>127\.0\.0\.1:7777<\/strong>/);
    assert.match(consentPage ?? '', /only returns to this computer \(localhost\)/);
    const code = location.searchParams.get('code') ?? '';
    const t = await token(inst, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: CB,
      code_verifier: verifier,
      client_id: id,
      resource: MCP,
    });
    assert.equal(t.status, 200, t.body);
    const p = decodeJwt(String(json(t).access_token));
    assert.equal(p.client_id, id);
    assert.equal(p.aud, MCP);
  });

  test('Cache-Control is honoured: max-age=3600 is fetched once, max-age=0 on every use', async () => {
    const b = new PortalClient(inst);
    for (let i = 0; i < 3; i++) await b.request(authUrl(`${origin}/good.json`));
    assert.equal(hits.get('/good.json'), 1);
    for (let i = 0; i < 3; i++) await b.request(authUrl(`${origin}/fresh.json`));
    assert.equal(hits.get('/fresh.json'), 3);
  });

  test('refused: a redirect the document does not list, a mismatched client_id, a client_secret, a document over 5 KB, an origin without a path', async () => {
    const cases: [string, string][] = [
      [authUrl(`${origin}/good.json`, 'http://127.0.0.1:7777/elsewhere'), 'redirect_uri did not match'],
      [authUrl(`${origin}/mismatch.json`), 'invalid_client'],
      [authUrl(`${origin}/secret.json`), 'invalid_client'],
      [authUrl(`${origin}/big.json`), 'invalid_client'],
      [authUrl(`${origin}/`), 'invalid_client'],
    ];
    for (const [url, why] of cases) {
      const a = await send(inst.port, { path: url, headers: { ...HTTPS, accept: 'text/html' } });
      assert.equal(a.status, 400, url);
      assert.equal(a.headers.location, undefined, url);
      assert.ok(a.body.includes(why), `${url}: ${a.body.slice(0, 200)}`);
    }
  });
});

describe('without allowPrivate (the default)', () => {
  let inst: Instance;
  before(async () => {
    inst = await startMcpIssuer();
  });
  after(async () => {
    await inst.close();
  });

  test('a client_id on a loopback address is refused and never reaches the server', async () => {
    bodies.set('/ssrf.json', {
      body: JSON.stringify({ client_id: `${origin}/ssrf.json`, redirect_uris: [CB], token_endpoint_auth_method: 'none' }),
    });
    const a = await send(inst.port, { path: authUrl(`${origin}/ssrf.json`), headers: { ...HTTPS, accept: 'text/html' } });
    assert.equal(a.status, 400);
    assert.equal(a.headers.location, undefined);
    assert.match(a.body, /invalid_client/);
    assert.equal(hits.get('/ssrf.json'), undefined);
  });
});
