// `gatehouse user reset-factors`, in-process against a running instance: every factor of the
// person goes, their sessions end on the running instance, others' stay, and it is audited.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../../src/cli/index.ts';
import { until } from '../kit/poll.ts';
import { ALICE, BOB, baseConfig, cookieHeader, fakeIO, forwardAuth, type Instance, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';

const APP = 'https://app.example.test/x';

describe('gatehouse user reset-factors', () => {
  let inst: Instance;
  const cli = async (...args: string[]) => {
    const io = fakeIO();
    const code = await runCli(['user', ...args, '--config', inst.configPath], io);
    return { code, out: io.stdout, err: io.stderr };
  };

  before(async () => {
    inst = await startInstance({ users: [ALICE, BOB] });
  });
  after(async () => {
    await inst.close();
  });

  test('--help lists it', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['user', '--help'], io), 0);
    assert.ok(io.stdout.join('\n').includes('\ngatehouse user reset-factors NAME\n'));
  });

  test('an unknown user exits 1 and changes nothing', async () => {
    assert.deepEqual(await cli('reset-factors', 'nobody'), { code: 1, out: [], err: ['gatehouse: no user named "nobody"'] });
  });

  test("removes every factor, ends the person's sessions (not others'), audits", async () => {
    const store = inst.running.store;
    const alice = await store.users.findByUsername('alice');
    const bob = await store.users.findByUsername('bob');
    assert.ok(alice && bob);
    await store.factors.putTotp({ userId: alice.id, sealedSecret: 'x', confirmedAt: 1, lastStep: 1, createdAt: 1 });
    for (const id of ['c1', 'c2']) {
      await store.factors.addPasskey({
        id,
        userId: alice.id,
        name: id,
        publicKey: 'k',
        counter: 0,
        transports: [],
        discoverable: true,
        backedUp: false,
        createdAt: 1,
        lastUsedAt: null,
      });
    }
    await store.factors.addPasskey({
      id: 'c3',
      userId: bob.id,
      name: 'c3',
      publicKey: 'k',
      counter: 0,
      transports: [],
      discoverable: true,
      backedUp: false,
      createdAt: 1,
      lastUsedAt: null,
    });
    await store.factors.setRecoveryCodes(alice.id, ['h1', 'h2'], 1);
    const a = await signIn(inst, 'alice');
    const b = await signIn(inst, 'bob');
    assert.equal((await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, a.value) })).status, 202);

    assert.deepEqual(await cli('reset-factors', 'ALICE'), {
      code: 0,
      err: [],
      out: [
        'reset the second factors of alice: removed the authenticator app, removed 2 passkey(s) and 2 unused recovery code(s); ended 1 session(s)',
      ],
    });
    assert.deepEqual(await store.factors.deleteAll(alice.id), { totp: false, passkeys: 0, recoveryCodes: 0 });
    assert.equal((await store.factors.passkeys(bob.id)).length, 1);
    await until(async () => (await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, a.value) })).status === 302, {
      timeoutMs: 3000,
      what: "alice's session ends",
    });
    // bob is signed in but not in admins: 403 (a lost session would be 302).
    assert.equal((await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, b.value) })).status, 403);
    const [ev] = await store.audit.list({ action: 'factor_reset' });
    assert.deepEqual(
      [ev?.actor, ev?.target, ev?.outcome, ev?.detail],
      ['cli', 'alice', 'ok', { totp: true, passkeys: 2, recoveryCodes: 2, sessionsEnded: 1 }],
    );
  });
});

describe('gatehouse explain and apps[].factors', () => {
  let inst: Instance;
  const explainOut = async (...args: string[]) => {
    const io = fakeIO();
    const code = await runCli(['explain', ...args, '--config', inst.configPath], io);
    return { code, out: io.stdout, err: io.stderr };
  };
  before(async () => {
    inst = await startInstance({
      users: [ALICE, BOB],
      config: (dir: string) =>
        baseConfig(dir, {
          factors: { totp: true, passkeys: true, require: { groups: [] } },
          apps: [
            { name: 'vault', hosts: ['vault.example.test'], allow: { groups: ['admins'] }, factors: { require: 'passkey', maxAge: '15m' } },
          ],
        }),
    });
  });
  after(async () => {
    await inst.close();
  });

  test('shows the requirement, and whether a named session meets it', async () => {
    const store = inst.running.store;
    const alice = await store.users.findByUsername('alice');
    assert.ok(alice);
    const now = Date.now();
    const base = { userId: alice.id, createdAt: now, expiresAt: now + 3_600_000, lastSeenAt: now, ip: null, userAgent: null };
    await store.sessions.create({ ...base, id: 'aaaaaa01' });
    await store.sessions.create({
      ...base,
      id: 'bbbbbb02',
      factors: JSON.stringify({ amr: ['hwk', 'user', 'mfa'], mfaAt: now - 60_000, passkeyAt: now - 60_000 }),
    });
    await store.sessions.create({
      ...base,
      id: 'cccccc03',
      factors: JSON.stringify({ amr: ['pwd', 'hwk', 'mfa'], mfaAt: now - 3_600_000, passkeyAt: now - 3_600_000 }),
    });

    const anon = await explainOut('https://vault.example.test/ui');
    assert.equal(anon.code, 0);
    assert.deepEqual(
      anon.out.filter((l: string) => l.startsWith('factors: ')),
      [
        'factors: app vault requires a passkey or security key used within 15m',
        'factors: name a session with --session ID to see whether it meets this',
      ],
    );
    const none = await explainOut('https://vault.example.test/ui', '--session', 'aaaaaa01');
    assert.deepEqual(none.out.filter((l: string) => l.startsWith('factors: ')).slice(1), [
      'factors: session aaaaaa signed in with pwd; a passkey last used: never',
      'factors: session aaaaaa does not meet it (never used): the gate sends it to the step-up screen',
    ]);
    const fresh = await explainOut('https://vault.example.test/ui', '--session', 'bbbbbb02');
    assert.match(
      fresh.out.find((l: string) => l.includes('last used')) ?? '',
      /^factors: session bbbbbb signed in with hwk, user, mfa; a passkey last used: \S+Z \(1m ago\)$/,
    );
    assert.equal(fresh.out.at(-1), 'factors: session bbbbbb meets it');
    const stale = await explainOut('https://vault.example.test/ui', '--session', 'cccccc03');
    assert.equal(stale.out.at(-1), 'factors: session cccccc does not meet it (used too long ago): the gate sends it to the step-up screen');
    assert.deepEqual(await explainOut('https://vault.example.test/ui', '--session', 'nope'), {
      code: 1,
      out: [],
      err: ['gatehouse: no session with that id (see gatehouse session list)'],
    });
    assert.equal((await explainOut('https://vault.example.test/ui', '--session', 'x', '--user', 'alice')).code, 2);
  });

  test('config: apps[].factors needs a factor to be on, and a passkey rule needs passkeys', async () => {
    const { configSchema } = await import('../../src/config/schema.ts');
    const bad = configSchema.safeParse({ apps: [{ name: 'a', hosts: ['a.example.test'], allow: { anyUser: true }, factors: 'any' }] });
    assert.equal(bad.success, false);
    assert.deepEqual(
      bad.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [['apps.0.factors', 'apps[].factors needs factors.totp or factors.passkeys: no one could have a second factor']],
    );
    const pk = configSchema.safeParse({
      factors: { totp: true },
      apps: [{ name: 'a', hosts: ['a.example.test'], allow: { anyUser: true }, factors: { require: 'passkey' } }],
    });
    assert.deepEqual(
      pk.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [['apps.0.factors.require', 'apps[].factors.require: passkey needs factors.passkeys: true']],
    );
    const ok = configSchema.safeParse({
      factors: { totp: true },
      apps: [{ name: 'a', hosts: ['a.example.test'], allow: { anyUser: true }, factors: { require: 'any', maxAge: '10m' } }],
    });
    assert.deepEqual(ok.data?.apps[0]?.factors, { require: 'any', maxAge: 600_000 });
    assert.deepEqual(ok.data?.factors.require, { everyone: false, groups: ['admins'] });
  });
});
