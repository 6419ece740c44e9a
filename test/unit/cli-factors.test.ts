// `gatehouse user reset-factors`, in-process against a running instance: every factor of the
// person goes, their sessions end on the running instance, others' stay, and it is audited.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../../src/cli/index.ts';
import { ALICE, BOB, eventually, fakeIO, forwardAuth, cookieHeader, signIn, startInstance, type Instance } from './helpers.ts';

const APP = 'https://app.example.test/x';

describe('gatehouse user reset-factors', () => {
  let inst: Instance;
  const cli = async (...args: string[]) => {
    const io = fakeIO();
    const code = await runCli(['user', ...args, '--config', inst.configPath], io);
    return { code, out: io.stdout, err: io.stderr };
  };

  before(async () => { inst = await startInstance({ users: [ALICE, BOB] }); });
  after(async () => { await inst.close(); });

  test('--help lists it', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['user', '--help'], io), 0);
    assert.ok(io.stdout.join('\n').includes('\ngatehouse user reset-factors NAME\n'));
  });

  test('an unknown user exits 1 and changes nothing', async () => {
    assert.deepEqual(await cli('reset-factors', 'nobody'), { code: 1, out: [], err: ['gatehouse: no user named "nobody"'] });
  });

  test('removes every factor, ends the person\'s sessions (not others\'), audits', async () => {
    const store = inst.running.store;
    const alice = await store.users.findByUsername('alice');
    const bob = await store.users.findByUsername('bob');
    assert.ok(alice && bob);
    await store.factors.putTotp({ userId: alice.id, sealedSecret: 'x', confirmedAt: 1, lastStep: 1, createdAt: 1 });
    for (const id of ['c1', 'c2']) {
      await store.factors.addPasskey({ id, userId: alice.id, name: id, publicKey: 'k', counter: 0, transports: [], discoverable: true, backedUp: false, createdAt: 1, lastUsedAt: null });
    }
    await store.factors.addPasskey({ id: 'c3', userId: bob.id, name: 'c3', publicKey: 'k', counter: 0, transports: [], discoverable: true, backedUp: false, createdAt: 1, lastUsedAt: null });
    await store.factors.setRecoveryCodes(alice.id, ['h1', 'h2'], 1);
    const a = await signIn(inst, 'alice');
    const b = await signIn(inst, 'bob');
    assert.equal((await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, a.cookie) })).status, 202);

    assert.deepEqual(await cli('reset-factors', 'ALICE'), {
      code: 0, err: [],
      out: ['reset the second factors of alice: removed the authenticator app, removed 2 passkey(s) and 2 unused recovery code(s); ended 1 session(s)'],
    });
    assert.deepEqual(await store.factors.deleteAll(alice.id), { totp: false, passkeys: 0, recoveryCodes: 0 });
    assert.equal((await store.factors.passkeys(bob.id)).length, 1);
    await eventually(async () => (await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, a.cookie) })).status === 302, 3000, 'alice\'s session ends');
    // bob is signed in but not in admins: 403 (a lost session would be 302).
    assert.equal((await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, b.cookie) })).status, 403);
    const [ev] = await store.audit.list({ action: 'factor_reset' });
    assert.deepEqual([ev?.actor, ev?.target, ev?.outcome, ev?.detail], ['cli', 'alice', 'ok', { totp: true, passkeys: 2, recoveryCodes: 2, sessionsEnded: 1 }]);
  });
});
