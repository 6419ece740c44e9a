// Accounts own people, against a real (in-memory SQLite) store and a frozen clock: ending a
// person's sessions (revoked in the store AND published on the feed, in that order), the audit
// events of administrative operations (actor and target named the same way), unlinking, and how
// an admitted upstream identity becomes an account (linked before, verified email, created,
// refused) — the linking that used to live in the connectors.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError, ManualClock, MemoryLogger } from '../core/index.ts';
import type { ConnectorConfig } from '../config/index.ts';
import { connectorSchema } from '../config/schema.ts';
import { KeyRing } from '../crypto/index.ts';
import { Connectors, type CallbackInput, type CallbackResult, type Connector, type ExternalIdentity } from '../connectors/index.ts';
import { openStore, type Store, type UserRecord } from '../store/index.ts';
import { Accounts, Invitations, SignInThrottle, type Federation, type SignInIntent } from './index.ts';

const HOUR = 3600_000;
const SECRET = '+IgCoVQqg0/lBY/ijpasDEt4ezf5x0YQM8oB0e4TIME=';

let clock: ManualClock;
let store: Store;
let logger: MemoryLogger;

/** A registry whose callback hands back whatever identity the test names, admitted by the real rules. */
class FakeConnectors extends Connectors {
  next: ExternalIdentity | undefined;
  readonly #cfg: ConnectorConfig;
  constructor(cfg: ConnectorConfig) {
    super({ connectors: () => [] });
    this.#cfg = cfg;
  }
  override get(id: string): Connector | undefined {
    if (id !== this.#cfg.id) return undefined;
    const fail = () => Promise.reject(new Error('not used'));
    return { id, type: this.#cfg.type, label: 'GitHub', config: this.#cfg, authorizationUrl: fail, callback: fail, refresh: fail };
  }
  override async callback(id: string, _input: CallbackInput): Promise<CallbackResult> {
    const connector = this.get(id);
    assert.ok(connector && this.next);
    return {
      ok: true,
      connector,
      identity: this.next,
      tokens: { accessToken: 'upstream-access' },
      groups: this.next.groups.map((g) => `github:${g}`),
    };
  }
}

function github(extra: Record<string, unknown>): ConnectorConfig {
  return connectorSchema.parse({ id: 'github', type: 'github', clientId: 'id', clientSecret: 'secret', ...extra });
}

function accountsWith(connectors?: Connectors): Accounts {
  const throttle = new SignInThrottle({ perAccount: 5, perAddress: 20, windowMs: 60_000 }, clock);
  const keyring = KeyRing.fromSecrets([SECRET]);
  return new Accounts({
    store,
    clock,
    logger,
    throttle,
    groups: [],
    ...(connectors ? { upstream: { connectors, keyring: () => keyring } } : {}),
  });
}

async function session(user: UserRecord, id: string): Promise<string> {
  await store.sessions.create({
    id,
    userId: user.id,
    createdAt: clock.now(),
    expiresAt: clock.now() + HOUR,
    lastSeenAt: clock.now(),
    ip: null,
    userAgent: null,
  });
  return id;
}

/** Every id published on the revocation feed, and whether the store had it revoked at that moment. */
function feed(): { id: string; revokedFirst: boolean }[] {
  const seen: { id: string; revokedFirst: boolean }[] = [];
  const publish = store.revocations.publish.bind(store.revocations);
  store.revocations.publish = async (id: string) => {
    const rec = await store.sessions.get(id);
    seen.push({ id, revokedFirst: rec === undefined || rec.revokedAt !== null });
    return publish(id);
  };
  return seen;
}

const INPUT: CallbackInput = {
  redirectUri: 'https://auth.example.test/oauth2/callback',
  currentUrl: new URL('https://auth.example.test/oauth2/callback?code=x&state=s'),
  state: 's',
  nonce: 'n',
  codeVerifier: 'v',
};

beforeEach(async () => {
  clock = new ManualClock(Date.UTC(2026, 2, 1));
  logger = new MemoryLogger();
  store = await openStore({ url: 'sqlite::memory:', logger, clock });
  await store.migrate();
});

afterEach(async () => {
  await store.close();
});

describe('ending sessions', () => {
  test('endSessions revokes every active session of the person in the store, then publishes each; others are untouched', async () => {
    const accounts = accountsWith();
    const alice = await accounts.create({ username: 'alice' });
    const bob = await accounts.create({ username: 'bob' });
    const a1 = await session(alice, 'a1');
    const a2 = await session(alice, 'a2');
    await session(bob, 'b1');
    const published = feed();
    const ended = await accounts.endSessions(alice.id, 'test');
    assert.deepEqual([...ended].sort(), [a1, a2]);
    assert.deepEqual(published.map((p) => p.id).sort(), [a1, a2]);
    assert.ok(
      published.every((p) => p.revokedFirst),
      'each id is revoked in the store before it is published',
    );
    assert.deepEqual(
      (await accounts.sessionsOf()).map((s) => s.id),
      ['b1'],
    );
    assert.deepEqual(await accounts.endSessions(alice.id, 'again'), [], 'nothing left to end');
  });

  test('endSessions with except keeps the session a person acts from, and ends (and publishes) every other', async () => {
    const accounts = accountsWith();
    const alice = await accounts.create({ username: 'alice' });
    const here = await session(alice, 'here');
    const other = await session(alice, 'other');
    const published = feed();
    assert.deepEqual(await accounts.endSessions(alice.id, 'password changed', { except: here }), [other]);
    assert.deepEqual(published, [{ id: other, revokedFirst: true }]);
    assert.deepEqual(
      (await accounts.sessionsOf(alice.id)).map((s) => s.id),
      [here],
    );
  });

  test('endSession ends one session and says whether it was active; it is published either way', async () => {
    const accounts = accountsWith();
    const alice = await accounts.create({ username: 'alice' });
    const sid = await session(alice, 's1');
    const published = feed();
    assert.equal(await accounts.endSession(sid, 'test'), true);
    assert.equal(await accounts.endSession(sid, 'test'), false);
    assert.equal(await accounts.endSession('unknown', 'test'), false);
    assert.deepEqual(
      published.map((p) => p.id),
      [sid, sid, 'unknown'],
    );
    assert.equal((await store.sessions.get(sid))?.revokedAt, clock.now());
  });
});

describe('administrative operations write one audit event: actor as given, target the username', () => {
  test('disable, enable, revoke-grant, delete', async () => {
    const accounts = accountsWith();
    const alice = await accounts.create({ username: 'Alice' });
    await session(alice, 's1');
    const off = await accounts.disable('alice', 'cli');
    assert.deepEqual(off, { sessions: ['s1'], grants: 0 });
    assert.equal((await accounts.get(alice.id))?.disabled, true);
    assert.equal(await accounts.isActive(alice.id), false);
    await accounts.enable('ALICE', 'cli');
    assert.equal(await accounts.isActive(alice.id), true);
    assert.deepEqual(await accounts.revokeGrant('alice', 'grafana', 'cli'), { consents: 0, grants: 0 }, 'nothing to revoke: no event');
    await store.consents.grant(alice.id, 'grafana', ['openid'], [], clock.now());
    assert.deepEqual(await accounts.revokeGrant('alice', 'grafana', 'cli'), { consents: 1, grants: 0 });
    await accounts.delete('alice', 'cli');
    assert.equal(await accounts.find('alice'), undefined);
    const events = (await store.audit.list({ limit: 10 })).reverse().map((e) => [e.actor, e.action, e.target, e.outcome, e.detail]);
    assert.deepEqual(events, [
      ['cli', 'user_disable', 'Alice', 'ok', { sessionsEnded: 1, grantsRevoked: 0 }],
      ['cli', 'user_enable', 'Alice', 'ok', {}],
      ['cli', 'grant_revoke', 'Alice', 'ok', { client: 'grafana', grantsRevoked: 0 }],
      ['cli', 'user_delete', 'Alice', 'ok', { sessionsEnded: 0, grantsRevoked: 0 }],
    ]);
  });

  test('an unknown person is not_found, with the name in the message, and writes nothing', async () => {
    const accounts = accountsWith();
    for (const op of [
      () => accounts.disable('nobody', 'cli'),
      () => accounts.enable('nobody', 'cli'),
      () => accounts.delete('nobody', 'cli'),
      () => accounts.unlink('nobody', 'github', 'cli'),
    ]) {
      await assert.rejects(
        op(),
        (err: unknown) => err instanceof GatehouseError && err.kind === 'not_found' && err.detail === 'no user named "nobody"',
      );
    }
    assert.deepEqual(await store.audit.list(), []);
  });
});

describe('upstream identities', () => {
  const octo: ExternalIdentity = {
    connectorId: 'github',
    subject: '42',
    username: 'octo',
    email: 'octo@example.test',
    emailVerified: true,
    name: 'Octo',
    groups: ['acme'],
  };

  async function signIn(fed: Federation, connectors: FakeConnectors, identity: ExternalIdentity) {
    connectors.next = identity;
    return fed.signIn('github', INPUT);
  }

  test('createAccounts: auto makes an account on first sign-in and links it; the next sign-in finds the link', async () => {
    const connectors = new FakeConnectors(github({ createAccounts: 'auto' }));
    const accounts = accountsWith(connectors);
    const fed = accounts.federation!;
    const first = await signIn(fed, connectors, octo);
    assert.ok(first.ok);
    assert.equal(first.how, 'created');
    assert.deepEqual(
      [first.user.username, first.user.email, first.user.emailVerified, first.user.passwordHash],
      ['octo', 'octo@example.test', true, null],
    );
    assert.deepEqual(first.groups, ['github:acme']);
    const again = await signIn(fed, connectors, { ...octo, username: 'octo-renamed' });
    assert.ok(again.ok);
    assert.equal(again.how, 'linked');
    assert.equal(again.user.id, first.user.id);
    const [row] = await accounts.identitiesOf(first.user.id);
    assert.equal(row?.username, 'octo-renamed');
    assert.ok(row?.tokens && !row.tokens.includes('upstream-access'), 'upstream tokens are stored sealed');
    assert.deepEqual(await accounts.upstreamGroups(first.user.id, 'github'), ['github:acme']);
  });

  test('an existing local account is never taken over by name: the new account is login@connector', async () => {
    const connectors = new FakeConnectors(github({ createAccounts: 'auto' }));
    const accounts = accountsWith(connectors);
    const local = await accounts.create({ username: 'octo' });
    const r = await signIn(accounts.federation!, connectors, { ...octo, email: null, emailVerified: false });
    assert.ok(r.ok);
    assert.equal(r.user.username, 'octo@github');
    assert.notEqual(r.user.id, local.id);
  });

  test('linkByEmail links to the one account with that verified email; never an unverified upstream address', async () => {
    const connectors = new FakeConnectors(github({ createAccounts: 'invite', linkByEmail: true }));
    const accounts = accountsWith(connectors);
    const local = await accounts.create({ username: 'octavia', email: 'OCTO@example.test' });
    const unverified = await signIn(accounts.federation!, connectors, { ...octo, emailVerified: false });
    assert.ok(!unverified.ok);
    assert.equal(unverified.error.failure, 'no_account');
    const r = await signIn(accounts.federation!, connectors, octo);
    assert.ok(r.ok);
    assert.equal(r.how, 'email');
    assert.equal(r.user.id, local.id);
  });

  test('a linked account that is disabled is refused', async () => {
    const connectors = new FakeConnectors(github({ createAccounts: 'auto' }));
    const accounts = accountsWith(connectors);
    const first = await signIn(accounts.federation!, connectors, octo);
    assert.ok(first.ok);
    await accounts.disable('octo', 'cli');
    const r = await signIn(accounts.federation!, connectors, octo);
    assert.ok(!r.ok);
    assert.equal(r.error.failure, 'refused');
  });

  test('unlink removes the link, ends every session of the person, and writes identity_unlink', async () => {
    const connectors = new FakeConnectors(github({ createAccounts: 'auto' }));
    const accounts = accountsWith(connectors);
    const first = await signIn(accounts.federation!, connectors, octo);
    assert.ok(first.ok);
    await session(first.user, 's1');
    await assert.rejects(
      accounts.unlink('octo', 'entra', 'cli'),
      (err: unknown) => err instanceof GatehouseError && err.detail === 'octo has no identity linked at connector "entra"',
    );
    const r = await accounts.unlink('octo', 'github', 'cli');
    assert.deepEqual([r.subjects, r.sessions], [['42'], ['s1']]);
    assert.deepEqual(await accounts.identitiesOf(first.user.id), []);
    assert.equal(await accounts.upstreamGroups(first.user.id, 'github'), null, 'a session made with the link is over');
    const [event] = await store.audit.list({ action: 'identity_unlink' });
    assert.deepEqual(
      [event?.actor, event?.target, event?.detail],
      ['cli', 'octo', { connector: 'github', subjects: ['42'], sessionsEnded: 1 }],
    );
  });

  test('an invitation intent makes an account with its groups and address whatever createAccounts says; once; a linked identity just signs in', async () => {
    const connectors = new FakeConnectors(github({ createAccounts: 'invite' }));
    const accounts = accountsWith(connectors);
    const invitations = new Invitations({ store: store.invitations, audit: store.audit, accounts, clock, logger });
    const { token, invitation } = await invitations.create({
      groups: ['ops'],
      expiresInMs: HOUR,
      email: 'octo@corp.example',
      createdBy: 'cli',
    });
    const intent: SignInIntent = {
      kind: 'invitation',
      enrol: async (username, create) => {
        const r = await invitations.enrolUpstream(token, username, '192.0.2.1', 'github', (inv) =>
          create({ groups: inv.groups, email: inv.email }),
        );
        return r.ok ? { ok: true, user: r.user } : { ok: false, reason: r.reason };
      },
    };
    connectors.next = octo;
    const r = await accounts.federation!.signIn('github', INPUT, intent);
    assert.ok(r.ok);
    assert.equal(r.how, 'invited');
    assert.deepEqual([r.user.username, r.user.groups, r.user.email, r.user.emailVerified], ['octo', ['ops'], 'octo@corp.example', true]);
    assert.equal((await accounts.identitiesOf(r.user.id))[0]?.subject, '42');
    assert.equal((await store.invitations.get(invitation.id))?.uses, 1);
    // Another identity with the spent invitation: refused, nothing made.
    connectors.next = { ...octo, subject: '43', username: 'other' };
    const spent = await accounts.federation!.signIn('github', INPUT, intent);
    assert.ok(!spent.ok);
    assert.equal(spent.error.failure, 'refused');
    assert.equal(await accounts.find('other'), undefined);
    // The linked identity signs in as usual, the invitation untouched.
    connectors.next = octo;
    const again = await accounts.federation!.signIn('github', INPUT, intent);
    assert.ok(again.ok);
    assert.equal(again.how, 'linked');
  });

  test('a link intent links the identity to that account; an identity linked to another account is never taken', async () => {
    const connectors = new FakeConnectors(github({ createAccounts: 'auto' }));
    const accounts = accountsWith(connectors);
    const mine = await accounts.create({ username: 'me', password: 'long enough pass' });
    connectors.next = octo;
    const r = await accounts.federation!.signIn('github', INPUT, { kind: 'link', userId: mine.id });
    assert.ok(r.ok);
    assert.deepEqual([r.how, r.user.id], ['added', mine.id]);
    assert.deepEqual(
      (await accounts.identitiesOf(mine.id)).map((i) => i.subject),
      ['42'],
    );
    const someoneElse = await accounts.create({ username: 'else' });
    const taken = await accounts.federation!.signIn('github', INPUT, { kind: 'link', userId: someoneElse.id });
    assert.ok(!taken.ok);
    assert.equal(taken.error.failure, 'refused');
    assert.deepEqual(await accounts.identitiesOf(someoneElse.id), []);
  });

  test('without connectors there is no upstream sign-in', () => {
    assert.equal(accountsWith().federation, undefined);
  });
});
