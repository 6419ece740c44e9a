// `gatehouse audit`: real events made through the running instance (portal sign-in, a refused
// sign-in, consent at the issuer, an agent and its token), read back with filters, as a table
// and as JSON lines, in-process and as the real binary; one actor scheme across events.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from '../../src/cli/index.ts';
import { fakeIO, type Instance, openForm, postSignIn } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';
import { basic, codeFor, json, MCP, PortalClient, register, startMcpIssuer, token } from '../kit/mcp.ts';
import { until } from '../kit/poll.ts';

let inst: Instance;
let clientId: string;
const EVIL = 'mallory\u001b[2J\u001b]0;owned\u0007\u009b31m';
let startedAt: number;

before(async () => {
  startedAt = Date.now();
  inst = await startMcpIssuer({ registration: 'open' });
  await signIn(inst, 'alice');
  const form = await openForm(inst);
  assert.equal((await postSignIn(inst, form, { username: EVIL, password: 'wrong password' })).status, 401);
  // A registered public client: consent is asked and allowed.
  const reg = await register(inst, {
    client_name: 'Tool',
    redirect_uris: ['http://127.0.0.1:33418/callback'],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  });
  assert.equal(reg.status, 201, reg.body);
  clientId = String(json(reg).client_id);
  await codeFor(new PortalClient(inst), { clientId, redirectUri: 'http://127.0.0.1:33418/callback' });
  const io = fakeIO('', {});
  assert.equal(await runCli(['agent', 'create', 'builder', '--groups', 'ci', '--config', inst.configPath], io), 0);
  const secret = /client_secret: +(\S+)/.exec(io.stdout.join('\n'))?.[1] ?? '';
  assert.equal(
    (
      await token(
        inst,
        { grant_type: 'client_credentials', resource: MCP, scope: 'mcp:tools' },
        { authorization: basic('agent.builder', secret) },
      )
    ).status,
    200,
  );
});
after(async () => {
  await inst.close();
});

async function audit(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const io = fakeIO('', {});
  const code = await runCli(['audit', ...args, '--config', inst.configPath], io);
  return { code, out: io.stdout, err: io.stderr };
}

type Line = {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  detail: Record<string, unknown>;
};
const lines = (out: string[]) => out.map((l) => JSON.parse(l) as Line);

/** Audit writes are not awaited by the request that makes them: wait for the last one. */
async function settled(): Promise<void> {
  await until(async () => (await inst.running.store.audit.list({ action: 'agent_token' })).length > 0, {
    timeoutMs: 5000,
    what: 'the agent_token event',
  });
}

describe('gatehouse audit', () => {
  test('--json: every event, oldest first, one actor scheme: username, agent:NAME, cli; targets named the same way', async () => {
    await settled();
    const r = await audit('--json');
    assert.equal(r.code, 0, r.err.join('\n'));
    const got = lines(r.out).map((e) => [e.actor, e.action, e.target, e.outcome]);
    assert.deepEqual(got, [
      ['alice', 'sign_in', null, 'ok'],
      [EVIL, 'sign_in', null, 'denied'],
      // Dynamic registration is anonymous: the actor is the address it came from.
      ['anonymous@127.0.0.1', 'client_registered', clientId, 'ok'],
      ['alice', 'sign_in', null, 'ok'],
      ['alice', 'oidc_sign_in', clientId, 'ok'],
      ['alice', 'oidc_consent', clientId, 'ok'],
      ['cli', 'agent_create', 'agent:builder', 'ok'],
      ['agent:builder', 'agent_token', MCP, 'ok'],
    ]);
    const all = lines(r.out);
    for (let i = 1; i < all.length; i++) assert.ok(all[i]!.at >= all[i - 1]!.at);
    assert.ok(all.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.at)));
    assert.deepEqual(all[6]?.detail, { clientId: 'agent.builder', groups: ['ci'], expiresAt: null });
  });

  test('filters: actor, action, target, outcome, a time range, limit (the newest N, still oldest first)', async () => {
    await settled();
    const pick = async (...args: string[]) => {
      const r = await audit('--json', ...args);
      assert.equal(r.code, 0, r.err.join('\n'));
      return lines(r.out).map((e) => `${e.actor}/${e.action}`);
    };
    assert.deepEqual(await pick('--actor', 'alice'), ['alice/sign_in', 'alice/sign_in', 'alice/oidc_sign_in', 'alice/oidc_consent']);
    assert.deepEqual(await pick('--actor', 'alice', '--action', 'sign_in'), ['alice/sign_in', 'alice/sign_in']);
    assert.deepEqual(await pick('--target', 'agent:builder'), ['cli/agent_create']);
    assert.deepEqual(await pick('--outcome', 'denied'), [`${EVIL}/sign_in`]);
    assert.deepEqual(await pick('--limit', '2'), ['cli/agent_create', 'agent:builder/agent_token']);
    assert.equal((await pick('--since', '1h')).length, 8);
    assert.deepEqual(await pick('--until', new Date(startedAt).toISOString()), []);
    assert.deepEqual(await pick('--since', new Date(Date.now() + 60_000).toISOString()), []);
    assert.deepEqual(await pick('--since', '2000-01-01', '--until', '2000-01-02'), []);
    const none = await audit('--actor', 'nobody');
    assert.deepEqual(none.out, ['no matching audit events']);
  });

  test('the table: a header, aligned columns, and control characters from outside escaped (no raw ESC, BEL or CSI on the terminal)', async () => {
    await settled();
    const r = await audit('--action', 'sign_in');
    assert.equal(r.code, 0);
    assert.match(r.out[0] ?? '', /^TIME {22}ACTOR +ACTION +TARGET +OUTCOME +DETAIL$/);
    assert.equal(r.out.length, 4);
    const evil = r.out[2] ?? '';
    assert.ok(evil.includes('mallory\\u001b[2J\\u001b]0;owned\\u0007\\u009b31m'), evil);
    for (const l of [...r.out, ...(await audit('--json')).out]) {
      assert.ok(![...l].some((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f)), JSON.stringify(l));
    }
    const cols = r.out.map((l) => (l.indexOf(' sign_in') === -1 ? l.indexOf(' ACTION') : l.indexOf(' sign_in')));
    assert.equal(new Set(cols).size, 1, r.out.join('\n'));
    assert.match(r.out[1] ?? '', /^\S+Z {2}alice +sign_in +- +ok +\{"ip":"127\.0\.0\.1","method":"password"\}$/);
  });

  test('usage errors exit 2 with what was expected, before opening the store', async () => {
    const cases: Array<[string[], string]> = [
      [
        ['--since', 'yesterday'],
        'gatehouse: --since expects a duration back from now (90s, 15m, 1h, 7d) or an ISO 8601 time (2026-01-31, 2026-01-31T12:00:00Z)',
      ],
      [
        ['--until', 'March 7'],
        'gatehouse: --until expects a duration back from now (90s, 15m, 1h, 7d) or an ISO 8601 time (2026-01-31, 2026-01-31T12:00:00Z)',
      ],
      [['--limit', '0'], 'gatehouse: --limit expects a positive whole number'],
      [['--limit', '1e3'], 'gatehouse: --limit expects a positive whole number'],
      [['--outcome', 'maybe'], 'gatehouse: --outcome expects ok, denied or error'],
      [
        ['--since', '2026-01-02', '--until', '2026-01-01'],
        'gatehouse: --since (2026-01-02T00:00:00.000Z) is after --until (2026-01-01T00:00:00.000Z)',
      ],
      [['alice'], 'gatehouse: audit takes no arguments (got "alice"); filter with --actor, --action, --target, --since'],
    ];
    for (const [args, message] of cases) {
      const r = await audit(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.deepEqual(r.err, [message]);
    }
  });

  test('the real binary: gatehouse audit --json --actor agent:builder', async () => {
    await settled();
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'gatehouse.js');
    const { stdout } = await promisify(execFile)(process.execPath, [
      bin,
      'audit',
      '--json',
      '--actor',
      'agent:builder',
      '--config',
      inst.configPath,
    ]);
    const got = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    assert.deepEqual(
      got.map((e) => [e.actor, e.action, e.target, e.detail.scope]),
      [['agent:builder', 'agent_token', MCP, 'mcp:tools']],
    );
  });
});
