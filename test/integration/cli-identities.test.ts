// `gatehouse user identities` and `gatehouse user unlink`, in-process against a running instance
// that shares the data directory: links are made in the store directly (as a connector sign-in
// would), sessions through the real portal form.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../../src/cli/index.ts';
import { until } from '../kit/poll.ts';
import { ALICE, BOB, cookieHeader, fakeIO, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';

const APP = 'https://app.example.test/x';
const T_LINKED = Date.UTC(2025, 0, 2, 3, 4, 5);
const T_GITHUB_SIGNIN = Date.UTC(2025, 1, 1, 10, 0, 0);
const T_GITHUB_REFRESH = Date.UTC(2025, 1, 1, 10, 5, 0);
const T_GOOGLE_SIGNIN = Date.UTC(2025, 0, 15, 8, 0, 0);

describe('gatehouse user identities / unlink', () => {
  let inst: Instance;
  let aliceId: string;

  const cli = async (...args: string[]) => {
    const io = fakeIO();
    const code = await runCli(['user', ...args, '--config', inst.configPath], io);
    return { code, out: io.stdout, err: io.stderr };
  };

  before(async () => {
    inst = await startInstance({ users: [ALICE, BOB] });
    const store = inst.running.store;
    const alice = await store.users.findByUsername('alice');
    assert.ok(alice);
    aliceId = alice.id;
    await store.identities.link(
      {
        connectorId: 'github',
        subject: '583231',
        userId: alice.id,
        username: 'octocat',
        email: 'alice@example.test',
        groups: ['github:acme'],
        tokens: null,
        signedInAt: T_GITHUB_SIGNIN,
        refreshedAt: T_GITHUB_REFRESH,
      },
      T_LINKED,
    );
    await store.identities.link(
      {
        connectorId: 'google',
        subject: '1098765',
        userId: alice.id,
        username: null,
        email: null,
        groups: [],
        tokens: null,
        signedInAt: T_GOOGLE_SIGNIN,
        refreshedAt: T_GOOGLE_SIGNIN,
      },
      T_LINKED,
    );
  });
  after(async () => {
    await inst.close();
  });

  test('--help shows both subcommands', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['user', '--help'], io), 0);
    const text = io.stdout.join('\n');
    assert.ok(text.includes('\ngatehouse user identities NAME\n'), text);
    assert.ok(text.includes('\ngatehouse user unlink NAME --connector ID\n'), text);
  });

  test('identities lists connector, subject, upstream username and email, linked and refreshed times (newest sign-in first)', async () => {
    const r = await cli('identities', 'alice');
    assert.equal(r.code, 0);
    assert.deepEqual(r.out, [
      'github\t583231\toctocat\talice@example.test\tlinked 2025-01-02T03:04:05.000Z\trefreshed 2025-02-01T10:05:00.000Z',
      'google\t1098765\t-\t-\tlinked 2025-01-02T03:04:05.000Z\trefreshed 2025-01-15T08:00:00.000Z',
    ]);
    assert.deepEqual(r.err, []);
  });

  test('identities of a user with no links says so and exits 0', async () => {
    const r = await cli('identities', 'bob');
    assert.deepEqual(r, { code: 0, out: ['bob has no linked identities'], err: [] });
  });

  test('identities of an unknown user exits 1; without a name exits 2', async () => {
    assert.deepEqual(await cli('identities', 'nobody'), { code: 1, out: [], err: ['gatehouse: no user named "nobody"'] });
    assert.deepEqual(await cli('identities'), { code: 2, out: [], err: ['gatehouse: user identities needs a username'] });
  });

  test('unlink without --connector exits 2 with the usage and changes nothing', async () => {
    const r = await cli('unlink', 'alice');
    assert.equal(r.code, 2);
    assert.deepEqual(r.out, []);
    assert.equal(r.err.length, 1);
    assert.ok(r.err[0]!.startsWith('gatehouse: user unlink needs --connector ID\n\nusage: gatehouse user add NAME'), r.err[0]);
    assert.ok(r.err[0]!.includes('\ngatehouse user unlink NAME --connector ID\n'));
    assert.equal((await inst.running.store.identities.forUser(aliceId)).length, 2);
  });

  test('--connector on another subcommand exits 2 instead of being ignored', async () => {
    const r = await cli('disable', 'alice', '--connector', 'github');
    assert.equal(r.code, 2);
    assert.ok(r.err[0]!.startsWith('gatehouse: --connector is for `gatehouse user unlink`\n\nusage: '), r.err[0]);
    const alice = await inst.running.store.users.findByUsername('alice');
    assert.equal(alice?.disabled, false);
  });

  test('unlink of an unknown user, or at a connector the user has no link with, exits 1', async () => {
    assert.deepEqual(await cli('unlink', 'nobody', '--connector', 'github'), {
      code: 1,
      out: [],
      err: ['gatehouse: no user named "nobody"'],
    });
    assert.deepEqual(await cli('unlink', 'alice', '--connector', 'gitlab'), {
      code: 1,
      out: [],
      err: ['gatehouse: alice has no identity linked at connector "gitlab"'],
    });
    assert.deepEqual(await cli('unlink', 'bob', '--connector', 'github'), {
      code: 1,
      out: [],
      err: ['gatehouse: bob has no identity linked at connector "github"'],
    });
    assert.equal((await inst.running.store.identities.forUser(aliceId)).length, 2);
  });

  test("unlink removes that link only, ends the user's sessions on the running instance, keeps others', and audits", async () => {
    const store = inst.running.store;
    const a1 = await signIn(inst, 'alice');
    const a2 = await signIn(inst, 'alice');
    const b = await signIn(inst, 'bob');
    const aliceCookie = cookieHeader(inst, a1.value);
    assert.equal((await forwardAuth(inst.port, APP, { cookie: aliceCookie })).status, 202);
    // bob is signed in but not in admins: 403 (a lost session would be 302).
    assert.equal((await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, b.value) })).status, 403);

    const r = await cli('unlink', 'alice', '--connector', 'github');
    assert.deepEqual(r, { code: 0, out: ['unlinked alice from github (subject 583231); ended 2 session(s)'], err: [] });

    assert.equal(await store.identities.get('github', '583231'), undefined);
    assert.deepEqual(
      (await store.identities.forUser(aliceId)).map((i) => i.connectorId),
      ['google'],
    );
    const active = await store.sessions.list({ activeAt: Date.now() });
    const bobId = (await store.users.findByUsername('bob'))?.id;
    assert.deepEqual(
      active.map((s) => s.userId),
      [bobId],
      "only bob's session is still active",
    );

    // The running instance drops alice's sessions (already loaded in its memory) within a second.
    await until(async () => (await forwardAuth(inst.port, APP, { cookie: aliceCookie })).status === 302, {
      timeoutMs: 3000,
      what: "alice's first session ends",
    });
    assert.equal((await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, a2.value) })).status, 302);
    assert.equal((await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, b.value) })).status, 403);

    const [event] = await store.audit.list({ actor: 'cli', limit: 1 });
    assert.ok(event);
    const { at, id, ...rest } = event;
    assert.equal(typeof at, 'number');
    assert.equal(typeof id, 'number');
    assert.deepEqual(rest, {
      actor: 'cli',
      action: 'identity_unlink',
      outcome: 'ok',
      target: 'alice',
      detail: { connector: 'github', subjects: ['583231'], sessionsEnded: 2 },
    });

    assert.deepEqual(await cli('identities', 'alice'), {
      code: 0,
      out: ['google\t1098765\t-\t-\tlinked 2025-01-02T03:04:05.000Z\trefreshed 2025-01-15T08:00:00.000Z'],
      err: [],
    });
    // Unlinking again: there is nothing left to unlink at that connector.
    assert.deepEqual(await cli('unlink', 'alice', '--connector', 'github'), {
      code: 1,
      out: [],
      err: ['gatehouse: alice has no identity linked at connector "github"'],
    });
  });
});
