// docs/mcp.md, "Client ID metadata documents on a private CA": a client ID metadata document on
// a host whose certificate the system does not trust is refused, and NODE_EXTRA_CA_CERTS in
// Gatehouse's environment is what makes it work. Real TLS (openssl-made certificate, node:https),
// Gatehouse as a real process started twice, with and without the variable.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort, request } from '../kit/http.ts';
import { gateConfig, type GatehouseProcess, startGatehouse } from '../kit/process.ts';
import { tempDir } from '../kit/temp.ts';
import { until } from '../kit/poll.ts';

let dir: string;
let caFile: string;
let docs: Server;
let clientId: string;
const CB = 'http://127.0.0.1:33418/callback';
const fetched: string[] = [];

before(async () => {
  dir = await tempDir('cimd-ca');
  caFile = join(dir, 'cert.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    caFile,
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  docs = createServer({ key: await readFile(join(dir, 'key.pem')), cert: await readFile(caFile) }, (req, res) => {
    fetched.push(req.url ?? '');
    const body = JSON.stringify({
      client_id: clientId,
      client_name: 'Private CA Tool',
      redirect_uris: [CB],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => docs.listen(0, '127.0.0.1', r));
  clientId = `https://localhost:${(docs.address() as AddressInfo).port}/client.json`;
});
after(async () => {
  await new Promise<void>((r) => {
    docs.closeAllConnections();
    docs.close(() => r());
  });
  await rm(dir, { recursive: true, force: true });
});

/** Starts Gatehouse (loopback documents allowed: the test's host is loopback) and asks /oidc/auth for the document's client. */
async function authorizeWith(
  env: Record<string, string>,
): Promise<{ status: number; location: string | undefined; body: string; gh: GatehouseProcess }> {
  const port = await freePort();
  const gh = await startGatehouse(
    gateConfig({
      publicUrl: `http://auth.example.test:${port}`,
      listenPort: port,
      extra: 'issuer: { clientMetadata: { allowPrivate: true } }',
    }),
    { env },
  );
  // Listening comes before ready (migrations, keys): wait for /readyz.
  await until(async () => (await request(`http://127.0.0.1:${port}/readyz`)).status === 200, {
    timeoutMs: 20_000,
    what: '/readyz 200',
  }).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}: ${gh.logs()}`, { cause: e });
  });
  const verifier = randomBytes(32).toString('base64url');
  const q = new URLSearchParams({
    client_id: clientId,
    redirect_uri: CB,
    response_type: 'code',
    scope: 'openid',
    state: 's1',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  });
  const r = await request(`http://auth.example.test:${port}/oidc/auth?${q.toString()}`, { headers: { accept: 'text/html' } });
  const location = r.headers.location;
  return { status: r.status, location: typeof location === 'string' ? location : undefined, body: r.body, gh };
}

describe('client ID metadata document on a private CA', () => {
  test('without NODE_EXTRA_CA_CERTS the TLS connection is refused: an error page, no redirect to the client', async () => {
    const before = fetched.length;
    const r = await authorizeWith({ NODE_EXTRA_CA_CERTS: '' });
    try {
      assert.equal(r.status, 400, r.body.slice(0, 300));
      assert.equal(r.location, undefined);
      assert.match(r.body, /invalid_client: client_id metadata document fetch failed/);
      assert.equal(fetched.length, before, 'no document was served: the handshake failed');
    } finally {
      await r.gh.stop();
    }
  });

  test('with NODE_EXTRA_CA_CERTS=<the CA> the document is fetched and the sign-in goes on to the portal', async () => {
    const before = fetched.length;
    const r = await authorizeWith({ NODE_EXTRA_CA_CERTS: caFile });
    try {
      assert.equal(r.status, 303, r.body.slice(0, 300));
      assert.match(r.location ?? '', /\/oidc\/interaction\/[\w-]+$/);
      assert.deepEqual(fetched.slice(before), ['/client.json']);
    } finally {
      await r.gh.stop();
    }
  });
});
