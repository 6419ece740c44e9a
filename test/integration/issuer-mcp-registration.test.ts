// Registration modes (issuer.registration: open | token | off), registered clients surviving a
// restart, and the three well-known forms of an issuer with a path.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { send } from '../kit/http.ts';
import { startInstance } from '../kit/server.ts';
import { tempDir } from '../kit/temp.ts';
import { HTTPS, json, LOOPBACK_CB, mcpConfig, register, startMcpIssuer } from '../kit/mcp.ts';

const NATIVE = { redirect_uris: [LOOPBACK_CB], token_endpoint_auth_method: 'none', application_type: 'native' };
const IAT = 'initial-access-token-0123456789';

describe('issuer.registration', () => {
  test('token: 401 invalid_token without the initial access token or with a wrong one, 201 with it', async () => {
    const inst = await startMcpIssuer({ registration: 'token', registrationToken: IAT });
    try {
      const none = await register(inst, NATIVE);
      assert.equal(none.status, 401);
      assert.equal(json(none).error, 'invalid_token');
      const wrong = await register(inst, NATIVE, { authorization: 'Bearer not-the-token-0123456789' });
      assert.equal(wrong.status, 401);
      assert.equal(json(wrong).error, 'invalid_token');
      const ok = await register(inst, NATIVE, { authorization: `Bearer ${IAT}` });
      assert.equal(ok.status, 201);
    } finally {
      await inst.close();
    }
  });

  test('a registered client id is 32 hex digits: never a leading "-" that a command line reads as an option', async () => {
    const inst = await startMcpIssuer({ registration: 'open' });
    try {
      const ids = await Promise.all(Array.from({ length: 64 }, async () => String(json(await register(inst, NATIVE)).client_id)));
      for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
      assert.equal(new Set(ids).size, ids.length);
    } finally {
      await inst.close();
    }
  });

  test('off: no registration endpoint, none advertised', async () => {
    const inst = await startMcpIssuer({ registration: 'off' });
    try {
      const r = await register(inst, NATIVE);
      assert.equal(r.status, 404);
      const m = json(await send(inst.port, { path: '/.well-known/oauth-authorization-server', headers: HTTPS }));
      assert.equal(m.registration_endpoint, undefined);
    } finally {
      await inst.close();
    }
  });

  test('registered clients live in the store: they survive a restart', async () => {
    const dir = await tempDir();
    try {
      const first = await startInstance({ dir, config: (d) => mcpConfig(d) });
      const reg = json(await register(first, NATIVE));
      await first.close();
      const second = await startInstance({ dir, config: (d) => mcpConfig(d), users: [] });
      try {
        const read = await send(second.port, {
          path: new URL(String(reg.registration_client_uri)).pathname,
          headers: { ...HTTPS, authorization: `Bearer ${String(reg.registration_access_token)}` },
        });
        assert.equal(read.status, 200);
        assert.equal(json(read).client_id, reg.client_id);
        assert.deepEqual(json(read).redirect_uris, [LOOPBACK_CB]);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('an issuer with a path (publicUrl https://auth.example.test/sso)', () => {
  test('all three well-known forms answer the same document with the issuer byte for byte', async () => {
    const inst = await startInstance({ config: (d) => ({ ...mcpConfig(d), publicUrl: 'https://auth.example.test/sso' }) });
    try {
      const docs = [];
      for (const path of [
        '/.well-known/oauth-authorization-server/sso',
        '/.well-known/openid-configuration/sso',
        '/sso/.well-known/openid-configuration',
      ]) {
        const a = await send(inst.port, { path, headers: HTTPS });
        assert.equal(a.status, 200, path);
        docs.push(json(a));
      }
      assert.equal(docs[0]?.issuer, 'https://auth.example.test/sso');
      assert.equal(docs[0]?.registration_endpoint, 'https://auth.example.test/sso/oidc/reg');
      assert.deepEqual(docs[1], docs[0]);
      assert.deepEqual(docs[2], docs[0]);
    } finally {
      await inst.close();
    }
  });
});
