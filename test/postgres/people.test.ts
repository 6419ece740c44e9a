// Two replicas on one PostgreSQL database: a user signed in and holding tokens on replica A is
// disabled or deleted by the CLI; on BOTH replicas the browser session ends and the access token
// is refused within 2 s, and the refresh grant is revoked. Remembered consent is shared too.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addUser, ALICE, type Instance, startInstance } from '../kit/server.ts';
import { authorizeVia, MCP, mcpConfig, pkce, PortalClient } from '../kit/mcp.ts';
import { bearerStatus, cli, holder, mcpClient, refreshWith, sessionStatus } from '../kit/people.ts';
import { timeUntil } from '../kit/poll.ts';
import { createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';

await requirePostgres();

let db: TestDatabase;
let a: Instance;
let b: Instance;
before(async () => {
  db = await createTestDatabase();
  const config = (dir: string) => ({ ...mcpConfig(dir), database: { url: db.url } });
  a = await startInstance({ unwatched: true, config, users: [ALICE] });
  b = await startInstance({ unwatched: true, config, users: [] });
});
after(async () => {
  await b?.close();
  await a?.close();
  await db?.drop();
});

describe('people across two replicas (PostgreSQL)', () => {
  for (const action of ['disable', 'delete'] as const) {
    test(`user ${action} on one replica: both end the session and refuse the access token within 2 s; the refresh grant is revoked`, async () => {
      const name = `${action}-pg`;
      await addUser(a.configPath, { name, email: `${name}@example.test`, groups: [] });
      const held = await holder(a, name);
      for (const i of [a, b]) {
        assert.equal(await bearerStatus(i, held.accessToken), 202);
        assert.equal(await sessionStatus(i, held.sessionCookie), 200);
      }
      const out = await cli(a, 'user', action, name);
      assert.equal(out.code, 0, out.err.join('\n'));
      const [tokenA, tokenB, sessionA, sessionB] = await Promise.all([
        timeUntil(async () => (await bearerStatus(a, held.accessToken)) === 401, { timeoutMs: 4000, what: 'A refuses the token' }),
        timeUntil(async () => (await bearerStatus(b, held.accessToken)) === 401, { timeoutMs: 4000, what: 'B refuses the token' }),
        timeUntil(async () => (await sessionStatus(a, held.sessionCookie)) === 401, { timeoutMs: 4000, what: 'A ends the session' }),
        timeUntil(async () => (await sessionStatus(b, held.sessionCookie)) === 401, { timeoutMs: 4000, what: 'B ends the session' }),
      ]);
      process.stdout.write(
        `# postgres user ${action}: token refused after ${tokenA.toFixed(0)}/${tokenB.toFixed(0)} ms, session ended after ${sessionA.toFixed(0)}/${sessionB.toFixed(0)} ms (A/B)\n`,
      );
      for (const ms of [tokenA, tokenB, sessionA, sessionB]) assert.ok(ms < 2000, `${ms} ms`);
      for (const i of [a, b]) {
        const r = await refreshWith(i, held);
        assert.equal(r.status, 400);
        assert.equal(r.body.error, 'invalid_grant');
      }
    });
  }

  test('consent given through replica A is remembered by replica B', async () => {
    const c = await mcpClient(a);
    const params = {
      client_id: c.clientId,
      redirect_uri: c.redirectUri,
      response_type: 'code',
      scope: 'mcp:tools',
      resource: MCP,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      state: 's',
    };
    assert.ok((await authorizeVia(new PortalClient(a), params)).consentPage);
    const onB = await authorizeVia(new PortalClient(b), params);
    assert.equal(onB.consentPage, undefined);
    assert.ok(onB.location.searchParams.get('code'));
  });
});
