// Discovery and the JWKS are answered from bytes rendered once per built provider
// (src/issuer/static-documents.ts). The reference is oidc-provider itself: a second provider
// built from the same config, keys and issuer by the same buildProvider, mounted the way
// oidc-provider's documentation mounts it under a path (Express `app.use(path, callback)`). Each
// document must be the same bytes as the reference's, at the root and under a publicUrl with a
// path, with oidc-provider's CORS headers, and must change after a reload that changes the
// config and after a key rotation.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import express from 'express';
import { parse, stringify } from 'yaml';
import { readFile, writeFile } from 'node:fs/promises';
import { MemoryLogger, systemClock } from '../../src/core/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { agentsFor, loadSigningKeys } from '../../src/issuer/index.ts';
import { buildProvider } from '../../src/issuer/provider.ts';
import { runCli } from '../../src/cli/index.ts';
import { send } from '../kit/http.ts';
import { ALICE, baseConfig, fakeIO, type Instance, startInstance } from '../kit/server.ts';
import { issuerConfig } from '../kit/issuer.ts';

/** oidc-provider alone, built by buildProvider from what the instance runs with, mounted at `base`. */
async function reference(inst: Instance, issuer: string, base: string): Promise<{ port: number; close: () => Promise<void> }> {
  const s = inst.running.settings();
  const { config } = await loadConfig({ path: inst.configPath, env: {} });
  const logger = new MemoryLogger();
  const keys = await loadSigningKeys(inst.running.store.signingKeys, s.keyring, systemClock, logger);
  const unused = () => {
    throw new Error('not used by discovery');
  };
  const provider = buildProvider({
    issuer,
    base,
    config,
    jwks: keys.jwks,
    keyring: s.keyring,
    store: inst.running.store,
    clock: systemClock,
    logger,
    accounts: { get: unused, identityOf: unused },
    gateUserId: unused,
    endGateSession: unused,
    renderError: unused,
    logoutPage: unused,
    signedOutPage: unused,
    agents: agentsFor(inst.running.store.oidc, s.keyring, systemClock),
    audit: unused,
  });
  const app = express();
  app.use(base || '/', provider.callback());
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const get = (port: number, path: string, headers: Record<string, string>, method = 'GET') => send(port, { method, path, headers });

/** Every document path of an issuer at `base`, and what oidc-provider answers it with. */
async function assertSameAsProvider(inst: Instance, issuer: string, base: string, headers: Record<string, string>): Promise<void> {
  const ref = await reference(inst, issuer, base);
  try {
    const discovery = await get(ref.port, `${base}/.well-known/openid-configuration`, headers);
    const jwks = await get(ref.port, `${base}/oidc/jwks`, headers);
    assert.equal(discovery.status, 200);
    assert.equal(jwks.status, 200);
    assert.equal((JSON.parse(discovery.body) as { issuer: string }).issuer, issuer);
    const paths: Array<[string, typeof discovery]> = [
      [`${base}/.well-known/openid-configuration`, discovery],
      [`/.well-known/oauth-authorization-server${base}`, discovery],
      [`${base}/oidc/jwks`, jwks],
    ];
    if (base !== '') paths.push([`/.well-known/openid-configuration${base}`, discovery]);
    for (const [path, want] of paths) {
      for (const origin of [undefined, 'https://spa.example.org']) {
        const h = origin ? { ...headers, origin } : headers;
        const got = await get(inst.port, path, h);
        assert.equal(got.status, 200, path);
        assert.equal(got.body, want.body, `${path}: the same bytes as oidc-provider`);
        assert.equal(got.headers['content-type'], want.headers['content-type'], path);
        assert.equal(got.headers['content-length'], want.headers['content-length'], path);
        // oidc-provider's CORS for these documents: the request's Origin, or "*".
        const refCors = await get(
          ref.port,
          path.startsWith('/.well-known/oauth') || path === `/.well-known/openid-configuration${base}`
            ? `${base}/.well-known/openid-configuration`
            : path,
          h,
        );
        assert.equal(got.headers['access-control-allow-origin'], origin ?? '*', path);
        assert.equal(got.headers['access-control-allow-origin'], refCors.headers['access-control-allow-origin'], path);
        assert.equal(got.headers.vary, refCors.headers.vary, path);
        const head = await get(inst.port, path, h, 'HEAD');
        assert.equal(head.status, 200);
        assert.equal(head.body, '');
        assert.equal(head.headers['content-length'], want.headers['content-length']);
      }
    }
  } finally {
    await ref.close();
  }
}

const HTTPS = { host: 'auth.example.test', 'x-forwarded-proto': 'https' };

describe('discovery and the JWKS from precomputed bytes', () => {
  test('at the root: the same bytes and CORS headers as oidc-provider on every path; ETag revalidation', async () => {
    const inst = await startInstance({ users: [ALICE], config: (dir) => issuerConfig(dir) });
    try {
      await assertSameAsProvider(inst, 'https://auth.example.test', '', HTTPS);
      const first = await get(inst.port, '/.well-known/openid-configuration', HTTPS);
      const etag = first.headers.etag ?? '';
      assert.match(etag, /^"[\w-]{32}"$/);
      assert.equal(first.headers['cache-control'], 'no-cache');
      for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        const again = await get(inst.port, '/.well-known/openid-configuration', { ...HTTPS, 'if-none-match': inm });
        assert.equal(again.status, 304, inm);
        assert.equal(again.body, '');
        assert.equal(again.headers.etag, etag);
      }
      assert.equal((await get(inst.port, '/.well-known/openid-configuration', { ...HTTPS, 'if-none-match': '"other"' })).status, 200);
      // The JWKS has its own tag.
      assert.notEqual((await get(inst.port, '/oidc/jwks', HTTPS)).headers.etag, etag);
      // A CORS preflight is still oidc-provider's.
      const pre = await send(inst.port, {
        method: 'OPTIONS',
        path: '/.well-known/openid-configuration',
        headers: { ...HTTPS, origin: 'https://spa.example.org', 'access-control-request-method': 'GET' },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers['access-control-allow-methods'], 'GET');
      // Only on the portal host.
      assert.equal((await get(inst.port, '/.well-known/openid-configuration', { ...HTTPS, host: 'app.example.test' })).status, 404);
    } finally {
      await inst.close();
    }
  });

  test('under a publicUrl with a path: the same bytes as oidc-provider mounted at that path', async () => {
    const issuer = 'https://www.example.test/auth';
    const inst = await startInstance({
      users: [ALICE],
      config: (dir) =>
        baseConfig(dir, {
          publicUrl: issuer,
          clients: [{ id: 'grafana', secret: 'grafana-secret-0123456789abcdef', redirectUris: ['https://grafana.example.test/cb'] }],
        }),
    });
    try {
      await assertSameAsProvider(inst, issuer, '/auth', { host: 'www.example.test', 'x-forwarded-proto': 'https' });
    } finally {
      await inst.close();
    }
  });

  test('a reload that changes the config and a key rotation each give new documents, still the provider’s bytes', async () => {
    const inst = await startInstance({ users: [ALICE], unwatched: true, config: (dir) => issuerConfig(dir) });
    try {
      const before = await get(inst.port, '/.well-known/openid-configuration', HTTPS);
      const jwksBefore = await get(inst.port, '/oidc/jwks', HTTPS);
      // A resource's scope is in scopes_supported once the reload is served.
      const cfg = parse(await readFile(inst.realConfigPath, 'utf8')) as Record<string, unknown>;
      cfg.resources = [{ resource: 'https://mcp.example.test/mcp', scopes: ['mcp:reload-scope'] }];
      await writeFile(inst.realConfigPath, stringify(cfg));
      assert.equal(await inst.running.reload('manual'), true);
      const after = await get(inst.port, '/.well-known/openid-configuration', HTTPS);
      assert.notEqual(after.body, before.body);
      assert.notEqual(after.headers.etag, before.headers.etag);
      assert.ok((JSON.parse(after.body) as { scopes_supported: string[] }).scopes_supported.includes('mcp:reload-scope'));
      assert.equal(
        (await get(inst.port, '/.well-known/openid-configuration', { ...HTTPS, 'if-none-match': before.headers.etag ?? '' })).status,
        200,
      );
      await assertSameAsProvider(inst, 'https://auth.example.test', '', HTTPS);
      // New signing keys (the CLI, as an operator rotates them), read again by a reload.
      const io = fakeIO();
      assert.equal(await runCli(['keys', 'rotate', '--signing', '--config', inst.configPath], io), 0, io.stderr.join('\n'));
      assert.equal(await inst.running.reload('manual'), true);
      const jwksAfter = await get(inst.port, '/oidc/jwks', HTTPS);
      const kids = (b: string) => (JSON.parse(b) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
      assert.equal(kids(jwksAfter.body).length, kids(jwksBefore.body).length + 2);
      for (const kid of kids(jwksBefore.body)) assert.ok(kids(jwksAfter.body).includes(kid));
      await assertSameAsProvider(inst, 'https://auth.example.test', '', HTTPS);
    } finally {
      await inst.close();
    }
  });
});
