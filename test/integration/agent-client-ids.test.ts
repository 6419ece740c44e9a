// Agent client ids that survive HTTP Basic as tools send it: `agent.<name>`, with real curl
// (`curl -u`, a subprocess) and openid-client's client_credentials against the in-process server.
// The first form, `agent:<name>`, keeps working where it can be read unambiguously (form-encoded
// Basic per RFC 6749 §2.3.1, client_secret_post), for new agents and for agents stored under it;
// tokens keep `sub: agent:<name>` whichever form asked.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { stringify } from 'yaml';
import { systemClock } from '../../src/core/index.ts';
import { runCli } from '../../src/cli/index.ts';
import { adapterFor } from '../../src/issuer/adapter.ts';
import { fakeIO, forwardAuth, type Instance } from '../kit/server.ts';
import { fetchVia } from '../kit/issuer.ts';
import { ISSUER, MCP, startMcpIssuer } from '../kit/mcp.ts';
import { until } from '../kit/poll.ts';

const run = promisify(execFile);
let inst: Instance;
let secret: string;
before(async () => {
  inst = await startMcpIssuer();
  const io = fakeIO('', {});
  assert.equal(await runCli(['agent', 'create', 'builder', '--groups', 'ci', '--config', inst.configPath], io), 0, io.stderr.join('\n'));
  assert.equal(/client_id: +(\S+)/.exec(io.stdout.join('\n'))?.[1], 'agent.builder');
  secret = /client_secret: +(\S+)/.exec(io.stdout.join('\n'))?.[1] ?? '';
});
after(async () => {
  await inst.close();
});

/** curl as an operator types it (the issuer is https://auth.example.test, reached on loopback). */
async function curl(args: string[]): Promise<{ status: number; body: Record<string, unknown> }> {
  const { stdout } = await run('curl', [
    '-sS',
    '-w',
    '\n%{http_code}',
    '-H',
    'Host: auth.example.test',
    '-H',
    'X-Forwarded-Proto: https',
    '-d',
    'grant_type=client_credentials',
    '-d',
    `resource=${MCP}`,
    '-d',
    'scope=mcp:tools mcp:admin',
    ...args,
    `http://127.0.0.1:${inst.port}/oidc/token`,
  ]);
  const nl = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(nl + 1)), body: JSON.parse(stdout.slice(0, nl)) as Record<string, unknown> };
}

function claims(body: Record<string, unknown>) {
  const c = decodeJwt(String(body.access_token));
  return { sub: c.sub, client_id: c.client_id, groups: c.groups };
}

describe('agent client ids with real curl', () => {
  test("the documented `curl -u 'agent.builder:SECRET'` gets a token with sub agent:builder", async () => {
    const r = await curl(['-u', `agent.builder:${secret}`]);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(claims(r.body), { sub: 'agent:builder', client_id: 'agent.builder', groups: ['ci'] });
    // The gate takes it, with the agent as the user (the subject did not change).
    const fa = await forwardAuth(inst.port, MCP, {
      headers: { authorization: `Bearer ${String(r.body.access_token)}`, accept: 'application/json' },
    });
    assert.equal(fa.status, 202);
    assert.equal(fa.headers['x-auth-request-user'], 'agent:builder');
  });

  test('the first form still works form-encoded in Basic and in the body (client_secret_post), with either id', async () => {
    for (const args of [
      ['-u', `agent%3Abuilder:${secret}`],
      ['-d', 'client_id=agent:builder', '-d', `client_secret=${secret}`],
      ['-d', 'client_id=agent.builder', '-d', `client_secret=${secret}`],
    ]) {
      const r = await curl(args);
      assert.equal(r.status, 200, `${args.join(' ').replace(secret, 'SECRET')}: ${JSON.stringify(r.body)}`);
      assert.equal(claims(r.body).sub, 'agent:builder');
    }
  });

  test("the first form typed raw into curl -u ('agent:builder:SECRET') is a clean invalid_client, never another agent", async () => {
    const r = await curl(['-u', `agent:builder:${secret}`]);
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_client');
  });

  test('an agent stored under the first form (made before agent.<name>) answers to both ids', async () => {
    // What `agent create` wrote before: the client under agent:<name>, client_secret_basic.
    const Adapter = adapterFor(inst.running.store.oidc, systemClock, { keyring: inst.running.settings().keyring });
    const legacySecret = 'legacy-secret-0123456789abcdef0123456789';
    await new Adapter('Client').upsert(
      'agent:legacy',
      {
        client_id: 'agent:legacy',
        client_secret: legacySecret,
        client_id_issued_at: Math.floor(Date.now() / 1000),
        client_secret_expires_at: 0,
        client_name: 'agent legacy',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      0,
    );
    await new Adapter('GatehouseAgent').upsert('legacy', { name: 'legacy', groups: ['old'], createdAt: Date.now(), expiresAt: null }, 0);
    for (const args of [
      ['-u', `agent.legacy:${legacySecret}`],
      ['-u', `agent%3Alegacy:${legacySecret}`],
      ['-d', 'client_id=agent:legacy', '-d', `client_secret=${legacySecret}`],
    ]) {
      const r = await curl(args);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(claims(r.body).sub, 'agent:legacy');
      assert.deepEqual(claims(r.body).groups, ['old']);
    }
    // Deleting it removes it under both ids (the issuer's copy of the client lives at most 1 s).
    const io = fakeIO('', {});
    assert.equal(await runCli(['agent', 'delete', 'legacy', '--config', inst.configPath], io), 0);
    for (const args of [
      ['-u', `agent.legacy:${legacySecret}`],
      ['-u', `agent%3Alegacy:${legacySecret}`],
    ]) {
      const r = await until(
        async () => {
          const x = await curl(args);
          return x.status !== 200 && x;
        },
        { timeoutMs: 4000, what: 'the deleted agent refused' },
      );
      assert.equal(r.status, 401);
      assert.equal(r.body.error, 'invalid_client');
    }
  });
});

describe('agent client ids with openid-client', () => {
  for (const [label, id, auth] of [
    ['client_secret_basic, agent.builder', 'agent.builder', () => oidc.ClientSecretBasic(secret)],
    ['client_secret_post, agent.builder', 'agent.builder', () => oidc.ClientSecretPost(secret)],
    ['client_secret_basic (form-encoded), agent:builder', 'agent:builder', () => oidc.ClientSecretBasic(secret)],
  ] as const) {
    test(`client_credentials: ${label}`, async () => {
      const config = await oidc.discovery(new URL(ISSUER), id, undefined, auth(), { [oidc.customFetch]: fetchVia(inst) });
      const tokens = await oidc.clientCredentialsGrant(config, { resource: MCP, scope: 'mcp:tools' });
      assert.equal(tokens.token_type, 'bearer');
      const c = decodeJwt(tokens.access_token);
      assert.equal(c.sub, 'agent:builder');
      assert.equal(c.client_id, id);
      assert.equal(c.aud, MCP);
    });
  }
});

test("a config client cannot take an agent's client id (either form): gatehouse check names the path", async () => {
  for (const id of ['agent.builder', 'agent:builder', 'Agent.x']) {
    const path = join(inst.dir, 'reserved.yaml');
    await writeFile(
      path,
      stringify({ publicUrl: 'https://auth.example.test', clients: [{ id, public: true, redirectUris: ['http://127.0.0.1:9/cb'] }] }),
    );
    const io = fakeIO('', {});
    assert.equal(await runCli(['check', '--config', path], io), 1, id);
    assert.ok(
      io.stderr
        .join('\n')
        .includes(`clients[0].id: "${id}" is reserved: agent.<name> and agent:<name> are the client ids of agents (gatehouse agent)`),
      io.stderr.join('\n'),
    );
  }
});
