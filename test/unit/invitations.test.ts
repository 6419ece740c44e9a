// Invitations and password reset as a domain (store, accounts, audit; a recording mailer) and
// through the CLI. Browser flows are in test/e2e/people-flows.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ManualClock, MemoryLogger } from '../../src/core/index.ts';
import { Accounts, Invitations, PasswordReset, SignInNotices, SignInThrottle } from '../../src/accounts/index.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import type { Mailer, Message } from '../../src/mail/index.ts';
import { hashToken } from '../../src/crypto/index.ts';
import { runCli } from '../../src/cli/index.ts';
import { addUser, ALICE, baseConfig, fakeIO, PASSWORD, writeConfig } from '../kit/server.ts';
import { tempDir } from '../kit/temp.ts';

const T0 = Date.UTC(2026, 5, 1);
const DAY = 86_400_000;

class RecordingMailer implements Mailer {
  readonly configured = true;
  readonly sent: Message[] = [];
  async send(m: Message): Promise<boolean> {
    this.sent.push(m);
    return true;
  }
  close(): void {}
}

interface World {
  store: Store;
  clock: ManualClock;
  accounts: Accounts;
  invitations: Invitations;
  reset: PasswordReset;
  mailer: RecordingMailer;
  logger: MemoryLogger;
}

async function world(dir: string, name: string): Promise<World> {
  const clock = new ManualClock(T0);
  const logger = new MemoryLogger();
  const store = await openStore({ url: `sqlite:${join(dir, `${name}.db`)}`, logger, clock });
  await store.migrate();
  const accounts = new Accounts({
    store,
    clock,
    logger,
    groups: [],
    throttle: new SignInThrottle({ perAccount: 5, perAddress: 20, windowMs: 900_000 }, clock),
  });
  const invitations = new Invitations({ store: store.invitations, audit: store.audit, accounts, clock, logger });
  const mailer = new RecordingMailer();
  const reset = new PasswordReset({
    store,
    audit: store.audit,
    mailer: () => mailer,
    clock,
    logger,
    throttle: new SignInThrottle({ perAccount: 3, perAddress: 10, windowMs: 3_600_000 }, clock),
    lifetimeMs: () => 30 * 60_000,
    linkFor: (t) => `https://auth.example.test/oauth2/reset?t=${t}`,
    site: () => 'auth.example.test',
    noticeOnChange: () => true,
  });
  return { store, clock, accounts, invitations, reset, mailer, logger };
}

const tokenOf = (link: string): string => new URL(link).searchParams.get('t') ?? '';

describe('invitations and password reset (domain)', () => {
  let dir: string;
  let n = 0;
  const worlds: World[] = [];
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    for (const w of worlds) await w.store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const fresh = async () => {
    const w = await world(dir, `w${++n}`);
    worlds.push(w);
    return w;
  };

  test('an invitation is stored only as a hash; enrolment makes the account with its groups and address, once', async () => {
    const w = await fresh();
    const { invitation, token } = await w.invitations.create({
      groups: ['dev', 'ops', 'dev'],
      expiresInMs: 7 * DAY,
      email: 'new@example.org',
      createdBy: 'cli',
    });
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(invitation.tokenHash, hashToken(token));
    assert.deepEqual(invitation.groups, ['dev', 'ops']);
    assert.equal(JSON.stringify(await w.store.invitations.list()).includes(token), false, 'the token is nowhere in the store');
    assert.deepEqual(await w.invitations.inspect(token).then((r) => r.state), 'usable');
    const r = await w.invitations.enrolWithPassword(token, { username: 'newbie', password: PASSWORD }, '192.0.2.1');
    assert.ok(r.ok);
    assert.deepEqual(
      [r.user.username, r.user.groups, r.user.email, r.user.emailVerified],
      ['newbie', ['dev', 'ops'], 'new@example.org', true],
    );
    assert.equal((await w.accounts.authenticate('newbie', PASSWORD, '192.0.2.1')).ok, true);
    assert.deepEqual(await w.invitations.enrolWithPassword(token, { username: 'second', password: PASSWORD }, '192.0.2.1'), {
      ok: false,
      reason: 'used',
    });
    assert.equal(await w.store.users.findByUsername('second'), undefined);
    const audit = (await w.store.audit.list()).map((e) => [e.actor, e.action, e.target, e.outcome]);
    assert.deepEqual(audit, [
      ['second', 'enrol', `invitation:${invitation.id}`, 'denied'],
      ['newbie', 'enrol', 'newbie', 'ok'],
      ['cli', 'invitation_create', `invitation:${invitation.id}`, 'ok'],
    ]);
  });

  test('states: unknown, malformed, expired (at expiresAt), revoked; each refuses enrolment', async () => {
    const w = await fresh();
    const a = await w.invitations.create({ groups: [], expiresInMs: DAY, createdBy: 'cli' });
    const b = await w.invitations.create({ groups: [], expiresInMs: 2 * DAY, createdBy: 'cli' });
    assert.equal((await w.invitations.inspect('x'.repeat(43))).state, 'unknown');
    assert.equal((await w.invitations.inspect('not a token')).state, 'unknown');
    assert.equal(await w.invitations.revoke(b.invitation.id, 'cli'), true);
    w.clock.set(T0 + DAY);
    assert.equal((await w.invitations.inspect(a.token)).state, 'expired');
    assert.equal((await w.invitations.inspect(b.token)).state, 'revoked');
    for (const [t, reason] of [
      [a.token, 'expired'],
      [b.token, 'revoked'],
      ['y'.repeat(43), 'unknown'],
    ] as const) {
      assert.deepEqual(await w.invitations.enrolWithPassword(t, { username: 'someone', password: PASSWORD }, '192.0.2.1'), {
        ok: false,
        reason,
      });
    }
    assert.equal(await w.store.users.count(), 0);
  });

  test('bad credentials take nothing; a taken username gives the use back', async () => {
    const w = await fresh();
    await w.accounts.create({ username: 'alice', password: PASSWORD });
    const { token, invitation } = await w.invitations.create({ groups: ['dev'], expiresInMs: DAY, createdBy: 'cli' });
    const bad: [string, string, string][] = [
      ['-bad', PASSWORD, 'username_invalid'],
      ['carol', 'short', 'password_short'],
      ['carol', 'x'.repeat(257), 'password_long'],
      ['carolcarol', 'CAROLCAROL', 'password_is_username'],
      ['ALICE', PASSWORD, 'username_taken'],
    ];
    for (const [username, password, reason] of bad) {
      assert.deepEqual(await w.invitations.enrolWithPassword(token, { username, password }, '192.0.2.1'), { ok: false, reason }, reason);
    }
    assert.equal((await w.store.invitations.get(invitation.id))?.uses, 0);
    assert.equal((await w.invitations.enrolWithPassword(token, { username: 'carol', password: PASSWORD }, '192.0.2.1')).ok, true);
  });

  test('a single-use link posted from 10 tabs at once makes exactly one account', async () => {
    const w = await fresh();
    const { token } = await w.invitations.create({ groups: [], expiresInMs: DAY, createdBy: 'cli' });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        w.invitations.enrolWithPassword(token, { username: `user${i}`, password: PASSWORD }, '192.0.2.1'),
      ),
    );
    assert.equal(results.filter((r) => r.ok).length, 1);
    assert.equal(await w.store.users.count(), 1);
  });

  test('--uses 3 makes three accounts; create refuses bad uses, expiry, group names and addresses', async () => {
    const w = await fresh();
    const { token } = await w.invitations.create({ groups: [], expiresInMs: DAY, maxUses: 3, createdBy: 'cli' });
    for (const u of ['u1', 'u2', 'u3'])
      assert.equal((await w.invitations.enrolWithPassword(token, { username: u, password: PASSWORD }, '192.0.2.1')).ok, true);
    assert.deepEqual(await w.invitations.enrolWithPassword(token, { username: 'u4', password: PASSWORD }, '192.0.2.1'), {
      ok: false,
      reason: 'used',
    });
    for (const input of [
      { maxUses: 0 },
      { maxUses: 1001 },
      { expiresInMs: 0 },
      { expiresInMs: 400 * DAY },
      { groups: ['bad group'] },
      { email: 'nope' },
    ]) {
      await assert.rejects(w.invitations.create({ groups: [], expiresInMs: DAY, createdBy: 'cli', ...input }), /invalid|must be|is not/);
    }
  });

  test('reset: the same immediate answer for a known and an unknown name; a link only for the known one', async () => {
    const w = await fresh();
    const alice = await w.accounts.create({ username: 'alice', email: 'alice@example.org', password: PASSWORD });
    assert.equal(w.reset.request('alice', '192.0.2.1'), 0);
    assert.equal(w.reset.request('nobody', '192.0.2.1'), 0);
    assert.equal(w.reset.request('alice@example.org', '192.0.2.2'), 0);
    await w.reset.settled();
    assert.deepEqual(
      w.mailer.sent.map((m) => [m.kind, m.to]),
      [
        ['reset', 'alice@example.org'],
        ['reset', 'alice@example.org'],
      ],
    );
    const link = String(w.mailer.sent[0]?.vars.link);
    assert.equal((await w.reset.inspect(tokenOf(link)))?.id, alice.id);
    const audit = (await w.store.audit.list({ action: 'password_reset_request' })).map((e) => [
      e.actor,
      e.target,
      e.outcome,
      e.detail.reason ?? null,
    ]);
    assert.deepEqual(
      audit.sort(),
      [
        ['-', 'alice', 'ok', null],
        ['-', 'alice', 'ok', null],
        ['-', null, 'denied', 'no_account'],
      ].sort(),
    );
    assert.equal(JSON.stringify(w.logger.lines).includes(tokenOf(link)), false, 'the token is in no log line');
  });

  test('reset: throttled per name typed and per address, alike for known and unknown names', async () => {
    const w = await fresh();
    await w.accounts.create({ username: 'alice', email: 'alice@example.org', password: PASSWORD });
    for (const name of ['alice', 'nobody']) {
      for (let i = 0; i < 3; i++) assert.equal(w.reset.request(name, `198.51.100.${i}`), 0);
      assert.equal(w.reset.request(name, '198.51.100.9'), 3600, name);
    }
    for (let i = 0; i < 10; i++) w.reset.request(`name${i}`, '203.0.113.5');
    assert.equal(w.reset.request('name99', '203.0.113.5'), 3600);
    await w.reset.settled();
    assert.equal(w.mailer.sent.length, 3);
  });

  test('reset: single use, 30 minutes, ends every session and grant, kills the other links, sends a notice', async () => {
    const w = await fresh();
    const alice = await w.accounts.create({ username: 'alice', email: 'alice@example.org', password: PASSWORD });
    for (const id of ['s1', 's2'])
      await w.store.sessions.create({
        id,
        userId: alice.id,
        createdAt: T0,
        expiresAt: T0 + DAY,
        lastSeenAt: T0,
        ip: null,
        userAgent: null,
      });
    await w.store.oidc.upsert('RefreshToken', 'rt-1', {
      payload: '{}',
      grantId: 'g1',
      uid: null,
      userCode: null,
      expiresAt: T0 + DAY,
      accountId: alice.id,
      clientId: 'app',
    });
    const published: string[] = [];
    w.store.revocations.subscribe((id) => published.push(id));
    const one = tokenOf((await w.reset.issueLink(alice, 'cli')).link);
    const two = tokenOf((await w.reset.issueLink(alice, 'cli')).link);
    assert.deepEqual(await w.reset.complete(one, 'short', '192.0.2.1'), { ok: false, reason: 'password_short' });
    const done = await w.reset.complete(one, 'a brand new passphrase', '192.0.2.1');
    assert.ok(done.ok);
    assert.equal(done.sessionsEnded, 2);
    assert.deepEqual(published.sort(), ['s1', 's2']);
    assert.equal(await w.store.oidc.find('RefreshToken', 'rt-1', T0), undefined);
    assert.equal((await w.accounts.authenticate('alice', 'a brand new passphrase', '192.0.2.1')).ok, true);
    assert.deepEqual(
      await w.reset.complete(one, 'another new passphrase', '192.0.2.1'),
      { ok: false, reason: 'invalid_link' },
      'used once',
    );
    assert.deepEqual(
      await w.reset.complete(two, 'another new passphrase', '192.0.2.1'),
      { ok: false, reason: 'invalid_link' },
      'the other links die',
    );
    assert.deepEqual(
      w.mailer.sent.map((m) => [m.kind, m.to]),
      [['password_changed', 'alice@example.org']],
    );
    const three = tokenOf((await w.reset.issueLink(alice, 'cli')).link);
    w.clock.advance(30 * 60_000);
    assert.equal(await w.reset.inspect(three), undefined, 'expired at 30 minutes');
    assert.deepEqual(await w.reset.complete(three, 'another new passphrase', '192.0.2.1'), { ok: false, reason: 'invalid_link' });
  });
});

describe('new-address notices', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('mailed for a new address only: never on the first sign-in, nor from an address seen in 30 days, nor when off', async () => {
    const w = await world(dir, 'notices');
    let enabled = true;
    const notices = new SignInNotices({
      sessions: w.store.sessions,
      mailer: () => w.mailer,
      clock: w.clock,
      logger: w.logger,
      enabled: () => enabled,
      site: () => 'auth.example.test',
      accountUrl: () => 'https://auth.example.test/oauth2/account',
    });
    const alice = await w.accounts.create({ username: 'alice', email: 'alice@example.org', password: PASSWORD });
    const session = async (id: string, ip: string) => {
      await w.store.sessions.create({
        id,
        userId: alice.id,
        createdAt: w.clock.now(),
        expiresAt: w.clock.now() + DAY,
        lastSeenAt: w.clock.now(),
        ip,
        userAgent: null,
      });
      return notices.afterSignIn(alice, id, ip, 'Firefox on Linux');
    };
    assert.equal(await session('s1', '192.0.2.1'), false, 'the first sign-in');
    assert.equal(await session('s2', '192.0.2.1'), false, 'a known address');
    assert.equal(await session('s3', '198.51.100.7'), true, 'a new address');
    assert.deepEqual(
      w.mailer.sent.map((m) => [m.kind, m.to, m.vars.address, m.vars.device]),
      [['new_address', 'alice@example.org', '198.51.100.7', 'Firefox on Linux']],
    );
    w.clock.advance(31 * DAY);
    assert.equal(await session('s4', '192.0.2.1'), false, 'nothing in the last 30 days to compare with counts as a first sign-in');
    assert.equal(await session('s5', '203.0.113.9'), true);
    enabled = false;
    assert.equal(await session('s6', '203.0.113.10'), false, 'off');
    await w.store.close();
  });
});

describe('gatehouse invite and user reset-link', () => {
  let dir: string;
  let config: string;
  before(async () => {
    dir = await tempDir();
    config = join(dir, 'gatehouse.yaml');
    await writeConfig(config, baseConfig(dir));
    await addUser(config, ALICE);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('create prints the link once; list shows it; revoke ends it; usage mistakes exit 2', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['invite', 'create', '--groups', 'dev,ops', '--expires', '2d', '--uses', '2', '--config', config], io), 0);
    const [first, linkLine, note] = io.stdout;
    const id = /^created invitation ([0-9a-f]{10}): groups dev,ops, 2 use\(s\), until \S+$/.exec(first ?? '')?.[1];
    assert.ok(id, first);
    assert.match(linkLine ?? '', /^ {2}link: https:\/\/auth\.example\.test\/oauth2\/invite\?t=[A-Za-z0-9_-]{43}$/);
    assert.equal(note, '  (the link is not shown again)');
    const listed = fakeIO();
    assert.equal(await runCli(['invite', 'list', '--config', config], listed), 0);
    assert.match(listed.stdout.join('\n'), new RegExp(`^${id}\\tgroups=dev,ops\\temail=-\\tuses=0/2\\tusable\\tby cli\\texpires `, 'm'));
    const revoked = fakeIO();
    assert.equal(await runCli(['invite', 'revoke', id, '--config', config], revoked), 0);
    assert.deepEqual(revoked.stdout, [`revoked invitation ${id}: its link no longer works`]);
    const again = fakeIO();
    assert.equal(await runCli(['invite', 'revoke', id, '--config', config], again), 1);
    assert.deepEqual(again.stderr, [`gatehouse: invitation ${id} is revoked already`]);
    for (const [args, msg] of [
      [['invite'], /^gatehouse: invite needs a subcommand/],
      [['invite', 'create', '--expires', 'soon'], /^gatehouse: --expires expects a duration/],
      [['invite', 'create', '--uses', 'x'], /^gatehouse: --uses expects a whole number/],
      [['invite', 'list', '--groups', 'a'], /^gatehouse: --groups is for `gatehouse invite create`/],
      [['invite', 'revoke'], /^gatehouse: invite revoke needs an invitation id/],
    ] as const) {
      const e = fakeIO();
      assert.equal(await runCli([...args, '--config', config], e), 2, args.join(' '));
      assert.match(e.stderr[0] ?? '', msg);
    }
  });

  test('--email without SMTP says the link was not mailed', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['invite', 'create', '--email', 'new@example.org', '--config', config], io), 0);
    assert.equal(io.stdout[3], '  not mailed: email.smtp is not set; hand the link to new@example.org yourself');
  });

  test('--rd puts the app in the link; an address outside domains[] is refused', async () => {
    const io = fakeIO();
    assert.equal(
      await runCli(['invite', 'create', '--groups', 'admins', '--rd', 'https://app.example.test/welcome', '--config', config], io),
      0,
    );
    assert.match(
      io.stdout[1] ?? '',
      /^ {2}link: https:\/\/auth\.example\.test\/oauth2\/invite\?t=[A-Za-z0-9_-]{43}&rd=https%3A%2F%2Fapp\.example\.test%2Fwelcome$/,
    );
    const bad = fakeIO();
    assert.equal(await runCli(['invite', 'create', '--rd', 'https://evil.example/', '--config', config], bad), 2);
    assert.match(bad.stderr[0] ?? '', /^gatehouse: --rd https:\/\/evil\.example\/ is not an address this instance may send people to/);
  });

  test('user reset-link prints a single-use link; unknown users exit 1', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['user', 'reset-link', 'alice', '--config', config], io), 0);
    assert.match(
      io.stdout[0] ?? '',
      /^password reset link for alice \(works once, until \S+; choosing a new password ends every session\):$/,
    );
    assert.match(io.stdout[1] ?? '', /^ {2}https:\/\/auth\.example\.test\/oauth2\/reset\?t=[A-Za-z0-9_-]{43}$/);
    const e = fakeIO();
    assert.equal(await runCli(['user', 'reset-link', 'nobody', '--config', config], e), 1);
    assert.deepEqual(e.stderr, ['gatehouse: no user named "nobody"']);
  });
});
