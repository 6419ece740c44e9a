// Agents (issue 5): machine identities made by `gatehouse agent`, confidential clients with
// client_credentials whose JWTs say sub: agent:<name> and carry the agent's groups; deleted or
// expired agents are refused at /token (invalid_client); every token is in the audit log.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { ManualClock } from '../../src/core/index.ts';
import { agentsFor } from '../../src/issuer/index.ts';
import { runCli } from '../../src/cli/index.ts';
import { send } from '../kit/http.ts';
import { until } from '../kit/poll.ts';
import { fakeIO, forwardAuth, type Instance } from '../kit/server.ts';
import { basic, HTTPS, ISSUER, json, MCP, OTHER, startMcpIssuer, token } from '../kit/mcp.ts';

let inst: Instance;
before(async () => {
  inst = await startMcpIssuer();
});
after(async () => {
  await inst.close();
});

async function cli(...args: string[]) {
  const io = fakeIO('', {});
  const code = await runCli(['agent', ...args, '--config', inst.configPath], io);
  return { code, out: io.stdout, err: io.stderr };
}

async function create(name: string, ...flags: string[]): Promise<{ id: string; secret: string; out: string[] }> {
  const r = await cli('create', name, ...flags);
  assert.equal(r.code, 0, r.err.join('\n'));
  const id = /client_id: +(\S+)/.exec(r.out.join('\n'))?.[1] ?? '';
  const secret = /client_secret: +(\S+)/.exec(r.out.join('\n'))?.[1] ?? '';
  return { id, secret, out: r.out };
}

const cc = (id: string, secret: string, form: Record<string, string> = { resource: MCP, scope: 'mcp:tools mcp:admin' }) =>
  token(inst, { grant_type: 'client_credentials', ...form }, { authorization: basic(id, secret) });

describe('gatehouse agent', () => {
  test('create prints the client id and the secret once; the agent gets an ES256 at+jwt with sub agent:<name>, its groups, aud = resource', async () => {
    const a = await create('builder', '--groups', 'ci,deployers', '--ttl', '8h');
    assert.match(a.out[0] ?? '', /^created agent builder, valid until \d{4}-\d\d-\d\dT/);
    assert.equal(a.id, 'agent.builder');
    assert.equal(a.out[3], '  (the secret is not shown again)');
    const t = await cc(a.id, a.secret);
    assert.equal(t.status, 200, t.body);
    assert.equal(t.headers['cache-control'], 'no-store');
    const body = json(t);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.refresh_token, undefined);
    const at = String(body.access_token);
    assert.equal(decodeProtectedHeader(at).typ, 'at+jwt');
    const keys = JSON.parse((await send(inst.port, { path: '/oidc/jwks', headers: HTTPS })).body) as JSONWebKeySet;
    const { payload } = await jwtVerify(at, createLocalJWKSet(keys), { issuer: ISSUER, audience: MCP, algorithms: ['ES256'] });
    assert.equal(payload.sub, 'agent:builder');
    assert.equal(payload.client_id, 'agent.builder');
    assert.deepEqual(payload.groups, ['ci', 'deployers']);
    assert.equal(payload.scope, 'mcp:tools mcp:admin');
    // The gate takes it at the resource, with the agent as the user.
    const fa = await forwardAuth(inst.port, MCP, { headers: { authorization: `Bearer ${at}`, accept: 'application/json' } });
    assert.equal(fa.status, 202, fa.body);
    assert.equal(fa.headers['x-auth-request-groups'], 'ci,deployers');
  });

  test("every token issued is in the audit log under the agent's name", async () => {
    const a = await create('auditor', '--groups', 'ops');
    assert.equal((await cc(a.id, a.secret, { resource: OTHER, scope: 'api' })).status, 200);
    assert.equal((await cc(a.id, a.secret, { resource: OTHER, scope: 'api' })).status, 200);
    const events = await inst.running.store.audit.list({ actor: 'agent:auditor' });
    assert.equal(events.length, 2);
    for (const e of events) {
      assert.equal(e.action, 'agent_token');
      assert.equal(e.outcome, 'ok');
      assert.equal(e.target, OTHER);
      assert.equal(e.detail.scope, 'api');
      assert.ok(!JSON.stringify(e).includes(a.secret));
    }
  });

  test('a wrong secret, under either id form and either method; an unknown resource', async () => {
    const a = await create('strict');
    for (const id of [a.id, 'agent:strict']) {
      const post = await token(inst, {
        grant_type: 'client_credentials',
        client_id: id,
        client_secret: `${a.secret}x`,
        resource: MCP,
        scope: 'mcp:tools',
      });
      assert.equal(post.status, 401);
      assert.equal(json(post).error, 'invalid_client');
      const wrongBasic = await cc(id, `${a.secret}x`);
      assert.equal(wrongBasic.status, 401);
      assert.equal(json(wrongBasic).error, 'invalid_client');
    }
    // Another agent's secret does not open this one, under either form.
    const other = await create('strict-other');
    for (const id of [a.id, 'agent:strict']) assert.equal((await cc(id, other.secret)).status, 401);
    const wrong = await cc(a.id, `${a.secret}x`);
    assert.equal(wrong.status, 401);
    assert.equal(json(wrong).error, 'invalid_client');
    const unknown = await cc(a.id, a.secret, { resource: 'https://nowhere.example.test/', scope: 'x' });
    assert.equal(unknown.status, 400);
    assert.equal(json(unknown).error, 'invalid_target');
  });

  test('list shows name, groups, creation and expiry; a duplicate name is refused', async () => {
    await create('lister', '--groups', 'a,b');
    const dup = await cli('create', 'lister');
    assert.equal(dup.code, 1);
    assert.deepEqual(dup.err, ['gatehouse: agent "lister" already exists (delete it first)']);
    const bad = await cli('create', 'Bad_Name');
    assert.equal(bad.code, 1);
    assert.deepEqual(bad.err, ['gatehouse: agent name "Bad_Name" must be 1-63 lowercase letters, digits and "-"']);
    const l = await cli('list');
    assert.equal(l.code, 0);
    const line = l.out.find((x) => x.startsWith('lister\t')) ?? '';
    assert.match(line, /^lister\tgroups=a,b\tcreated=\d{4}-\S+\texpires=never$/);
  });

  test('delete: it is no longer active at once, and /token refuses it (invalid_client) within 1 s (the issuer keeps its client that long)', async () => {
    const a = await create('doomed', '--groups', 'ci');
    assert.equal((await cc(a.id, a.secret)).status, 200);
    const agents = agentsFor(inst.running.store.oidc, inst.running.settings().keyring, new ManualClock(Date.now()));
    assert.equal(await agents.isActive('doomed'), true);
    const d = await cli('delete', 'doomed');
    const deletedAt = performance.now();
    assert.equal(d.code, 0);
    assert.deepEqual(d.out, ['deleted agent doomed: its tokens are refused from now on']);
    assert.equal(await agents.isActive('doomed'), false);
    // Every token still given was asked for within 1 s of the deletion.
    let lastOk = -Infinity;
    const t = await until(
      async () => {
        const startedAt = performance.now();
        const r = await cc(a.id, a.secret);
        if (r.status === 200) lastOk = startedAt;
        return r.status !== 200 && r;
      },
      { timeoutMs: 4000, what: '/token refuses the deleted agent' },
    );
    assert.ok(lastOk - deletedAt < 1000, `a token ${lastOk - deletedAt} ms after the deletion`);
    assert.equal(t.status, 401);
    assert.equal(json(t).error, 'invalid_client');
    assert.deepEqual((await cli('delete', 'doomed')).err, ['gatehouse: no agent "doomed"']);
    assert.equal(
      (await cli('list')).out.some((x) => x.startsWith('doomed\t')),
      false,
    );
  });

  test('delete: a token the agent already holds stops working at the gate within the subject check interval (2 s)', async () => {
    const a = await create('short-lived', '--groups', 'ci');
    const at = String(json(await cc(a.id, a.secret)).access_token);
    const bearer = { headers: { authorization: `Bearer ${at}`, accept: 'application/json' } };
    assert.equal((await forwardAuth(inst.port, MCP, bearer)).status, 202);
    assert.equal((await cli('delete', 'short-lived')).code, 0);
    const started = Date.now();
    await until(async () => (await forwardAuth(inst.port, MCP, bearer)).status === 401, {
      timeoutMs: 4000,
      what: "the deleted agent's token refused",
    });
    assert.ok(Date.now() - started < 4000);
    const r = await forwardAuth(inst.port, MCP, bearer);
    assert.match(String(r.headers['www-authenticate']), /^Bearer error="invalid_token"/);
  });

  test('an agent past its TTL is refused (invalid_client) and not listed', async () => {
    // Made 8h and 1s ago with an 8h TTL: expired now.
    const past = new ManualClock(Date.now() - 8 * 3_600_000 - 1000);
    const made = await agentsFor(inst.running.store.oidc, inst.running.settings().keyring, past).create('expired', {
      groups: ['ci'],
      ttlMs: 8 * 3_600_000,
    });
    const t = await cc(made.clientId, made.clientSecret);
    assert.equal(t.status, 401);
    assert.equal(json(t).error, 'invalid_client');
    assert.equal(
      (await cli('list')).out.some((x) => x.startsWith('expired\t')),
      false,
    );
    assert.equal(
      await agentsFor(inst.running.store.oidc, inst.running.settings().keyring, new ManualClock(Date.now())).isActive('expired'),
      false,
    );
  });

  test('usage errors', async () => {
    assert.deepEqual((await cli('frob')).err, ['gatehouse: agent needs a subcommand: create, list or delete']);
    assert.deepEqual((await cli('create')).err, ['gatehouse: agent create needs a NAME']);
    assert.deepEqual((await cli('create', 'x', '--ttl', 'soon')).err, ['gatehouse: --ttl expects a duration such as 90s, 15m, 8h or 7d']);
  });
});
