// oidc-provider is loaded on first need: a gate whose config has no clients and no resources
// never builds the provider until a request for the issuer's paths arrives (an agent's token,
// discovery), and then answers exactly as a provider built at start would. With clients or
// resources in the config it is built at start.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { send } from '../kit/http.ts';
import { HTTPS, ISSUER, issuerConfig } from '../kit/issuer.ts';
import { ALICE, startInstance, type Instance } from '../kit/server.ts';

const loaded = (inst: Instance) => inst.logger.lines.filter((l) => l.msg === 'OpenID provider loaded').length;

describe('a gate without clients or resources', () => {
  test('starts without the provider, builds it once for the first issuer request, and answers it', async () => {
    const inst = await startInstance({ users: [ALICE] });
    try {
      assert.equal(loaded(inst), 0);
      // The gate works without it.
      const r = await send(inst.port, { path: '/.well-known/openid-configuration', headers: HTTPS });
      assert.equal(r.status, 200);
      const doc = JSON.parse(r.body) as { issuer: string; token_endpoint: string; jwks_uri: string };
      assert.equal(doc.issuer, ISSUER);
      assert.equal(doc.token_endpoint, `${ISSUER}/oidc/token`);
      assert.equal(loaded(inst), 1);
      const jwks = await send(inst.port, { path: '/oidc/jwks', headers: HTTPS });
      assert.equal(jwks.status, 200);
      assert.ok((JSON.parse(jwks.body) as { keys: unknown[] }).keys.length > 0);
      assert.equal(loaded(inst), 1);
    } finally {
      await inst.close();
    }
  });

  test('requests racing for the first build share one provider', async () => {
    const inst = await startInstance({ users: [ALICE] });
    try {
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => send(inst.port, { path: '/.well-known/openid-configuration', headers: HTTPS })),
      );
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 200, 200, 200],
      );
      assert.equal(loaded(inst), 1);
    } finally {
      await inst.close();
    }
  });
});

test('a gate with clients builds the provider at start', async () => {
  const inst = await startInstance({ users: [ALICE], config: (dir) => issuerConfig(dir) });
  try {
    assert.equal(loaded(inst), 1);
    assert.equal((await send(inst.port, { path: '/.well-known/openid-configuration', headers: HTTPS })).status, 200);
    assert.equal(loaded(inst), 1);
  } finally {
    await inst.close();
  }
});
