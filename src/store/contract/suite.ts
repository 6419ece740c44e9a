// The store contract: every adapter passes the same tests against its real engine (SQLite in
// `npm test`, PostgreSQL in `npm run test:postgres`). Each test opens a fresh database.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { GatehouseError, ManualClock, MemoryLogger, type Clock, type ErrorKind, type Logger } from '../../core/index.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from '../migrations.ts';
import type { IdentityRecord, SessionRecord, Store, UserRecord } from '../ports.ts';
import { factorsContract } from './factors.ts';
import { oidcContract } from './oidc.ts';
import { peopleContract } from './people.ts';

export interface ContractOpenOptions {
  clock: Clock;
  logger: Logger;
  /** Default: MIGRATIONS. */
  migrations?: readonly Migration[];
  /** Open the database of the previous open() instead of a fresh, empty one. */
  sameDatabase?: boolean;
}

export async function rejectsWith(p: Promise<unknown>, kind: ErrorKind, detail: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof GatehouseError, `expected a GatehouseError, got ${String(err)}`);
    assert.equal(err.kind, kind);
    if (typeof detail === 'string') assert.equal(err.detail, detail);
    else assert.match(err.detail, detail);
    return true;
  });
}

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

function newUser(over: Partial<Omit<UserRecord, 'createdAt' | 'updatedAt'>> = {}): Omit<UserRecord, 'createdAt' | 'updatedAt'> {
  return {
    id: 'u-alice',
    username: 'alice',
    email: 'alice@example.org',
    emailVerified: true,
    name: 'Alice Liddell',
    groups: ['admins', 'dev'],
    passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA',
    disabled: false,
    ...over,
  };
}

function newSession(over: Partial<Omit<SessionRecord, 'revokedAt'>> = {}): Omit<SessionRecord, 'revokedAt'> {
  return {
    id: 's-1',
    userId: 'u-alice',
    createdAt: T0,
    expiresAt: T0 + 8 * HOUR,
    lastSeenAt: T0,
    ip: '192.0.2.7',
    userAgent: 'Mozilla/5.0',
    factors: null,
    ...over,
  };
}

/** Resolves with the ids received once `n` arrived; rejects after `ms` (the feed's promise is 1s). */
function collect(store: Store, n: number, ms = 1000): { ids: string[]; done: Promise<string[]>; unsubscribe: () => void } {
  const ids: string[] = [];
  const { promise: done, resolve, reject } = Promise.withResolvers<string[]>();
  const timer = setTimeout(() => reject(new Error(`expected ${n} revocation(s) within ${ms}ms, got ${JSON.stringify(ids)}`)), ms);
  const unsubscribe = store.revocations.subscribe((id) => {
    ids.push(id);
    if (ids.length === n) {
      clearTimeout(timer);
      resolve([...ids]);
    }
  });
  return { ids, done, unsubscribe };
}

export function storeContract(name: string, open: (opts: ContractOpenOptions) => Promise<Store>): void {
  interface Ctx {
    store: Store;
    clock: ManualClock;
    logger: MemoryLogger;
  }
  /** A fresh database; migrated unless told otherwise; closed afterwards. */
  const withStore =
    (fn: (c: Ctx) => Promise<void>, migrate = true) =>
    async (): Promise<void> => {
      const clock = new ManualClock(T0);
      const logger = new MemoryLogger();
      const store = await open({ clock, logger });
      try {
        if (migrate) await store.migrate();
        await fn({ store, clock, logger });
      } finally {
        await store.close();
      }
    };

  describe(`store contract: ${name}`, () => {
    describe('schema', () => {
      test(
        'before migrate: version 0, every migration pending, assertSchemaCurrent says what to run',
        withStore(async ({ store }) => {
          assert.deepEqual(await store.schemaStatus(), {
            current: 0,
            latest: LATEST_SCHEMA_VERSION,
            pending: MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
          });
          await rejectsWith(
            store.assertSchemaCurrent(),
            'migration_failed',
            `the database schema is at version 0 but this release of gatehouse needs version ${LATEST_SCHEMA_VERSION}: ` +
              `run \`gatehouse migrate\` to apply the pending migrations (${MIGRATIONS.map((m) => `${m.version} ${m.name}`).join(', ')})`,
          );
        }, false),
      );

      test(
        'migrate applies each pending migration once, records it, and is then current',
        withStore(async ({ store, logger }) => {
          assert.deepEqual(await store.migrate(), { applied: MIGRATIONS.map((m) => m.version) });
          assert.deepEqual(await store.schemaStatus(), { current: LATEST_SCHEMA_VERSION, latest: LATEST_SCHEMA_VERSION, pending: [] });
          await store.assertSchemaCurrent();
          assert.deepEqual(await store.migrate(), { applied: [] });
          assert.deepEqual(
            logger.lines.filter((l) => l.msg.startsWith('applied migration')).map((l) => l.msg),
            MIGRATIONS.map((m) => `applied migration ${m.version} (${m.name})`),
          );
        }, false),
      );

      test('a database migrated by a newer release is refused by migrate and assertSchemaCurrent', async () => {
        const clock = new ManualClock(T0);
        const logger = new MemoryLogger();
        const older = await open({ clock, logger });
        const future = [
          ...MIGRATIONS,
          ...[2, 3, 4, 5, 6, 7].map((v) => ({
            version: LATEST_SCHEMA_VERSION + v - 1,
            name: `future_${v}`,
            sqlite: 'SELECT 1',
            postgres: 'SELECT 1',
          })),
        ];
        try {
          await older.migrate();
          const newer = await open({ clock, logger, migrations: future, sameDatabase: true });
          try {
            assert.deepEqual(await newer.migrate(), { applied: future.slice(MIGRATIONS.length).map((m) => m.version) });
          } finally {
            await newer.close();
          }
          const newest = future[future.length - 1]!.version;
          const message =
            `the database schema is at version ${newest} but this release of gatehouse knows up to version ${LATEST_SCHEMA_VERSION}: ` +
            'run the newer release (or restore a backup taken before the upgrade); never downgrade against a migrated database';
          await rejectsWith(older.migrate(), 'schema_too_new', message);
          await rejectsWith(older.assertSchemaCurrent(), 'schema_too_new', message);
          assert.deepEqual(await older.schemaStatus(), { current: newest, latest: LATEST_SCHEMA_VERSION, pending: [] });
        } finally {
          await older.close();
        }
      });

      test('a failing migration is rolled back alone and reported with its version and name', async () => {
        const clock = new ManualClock(T0);
        const logger = new MemoryLogger();
        const half = 'CREATE TABLE half_done (x integer); SELECT * FROM no_such_table';
        const broken = [...MIGRATIONS, { version: LATEST_SCHEMA_VERSION + 1, name: 'broken', sqlite: half, postgres: half }];
        const first = await open({ clock, logger, migrations: broken });
        try {
          await rejectsWith(
            first.migrate(),
            'migration_failed',
            new RegExp(`^migration ${LATEST_SCHEMA_VERSION + 1} \\(broken\\) failed and was rolled back: .*no_such_table`),
          );
          // The earlier migrations, each in its own transaction, stay applied.
          assert.deepEqual(await first.schemaStatus(), {
            current: LATEST_SCHEMA_VERSION,
            latest: LATEST_SCHEMA_VERSION + 1,
            pending: [{ version: LATEST_SCHEMA_VERSION + 1, name: 'broken' }],
          });
        } finally {
          await first.close();
        }
        // half_done was rolled back: creating it again succeeds.
        const fixed = [
          ...MIGRATIONS,
          {
            version: LATEST_SCHEMA_VERSION + 1,
            name: 'fixed',
            sqlite: 'CREATE TABLE half_done (x integer)',
            postgres: 'CREATE TABLE half_done (x integer)',
          },
        ];
        const second = await open({ clock, logger, migrations: fixed, sameDatabase: true });
        try {
          assert.deepEqual(await second.migrate(), { applied: [LATEST_SCHEMA_VERSION + 1] });
        } finally {
          await second.close();
        }
      });

      test('ping resolves on an open store and close can be called twice', async () => {
        const store = await open({ clock: new ManualClock(T0), logger: new MemoryLogger() });
        await store.ping();
        await store.close();
        await store.close();
      });
    });

    describe('users', () => {
      test(
        'create stamps createdAt/updatedAt from the clock and get returns the same record',
        withStore(async ({ store }) => {
          const created = await store.users.create(newUser());
          assert.deepEqual(created, { ...newUser(), createdAt: T0, updatedAt: T0 });
          assert.deepEqual(await store.users.get('u-alice'), created);
          assert.equal(await store.users.get('u-nobody'), undefined);
        }),
      );

      test(
        'nullable fields and an empty group list round-trip',
        withStore(async ({ store }) => {
          const u = newUser({ email: null, emailVerified: false, name: null, groups: [], passwordHash: null, disabled: true });
          assert.deepEqual(await store.users.create(u), { ...u, createdAt: T0, updatedAt: T0 });
          assert.deepEqual(await store.users.get(u.id), { ...u, createdAt: T0, updatedAt: T0 });
        }),
      );

      test(
        'groups round-trip exactly: order, duplicates, spaces, quotes, non-ASCII, empty strings',
        withStore(async ({ store }) => {
          const groups = ['zeta', 'admins', 'admins', 'dev ops', '"quoted",comma', 'ünïcödé', '{braces}', ''];
          await store.users.create(newUser({ groups }));
          assert.deepEqual((await store.users.get('u-alice'))?.groups, groups);
        }),
      );

      test(
        'usernames are unique case-insensitively, including non-ASCII letters',
        withStore(async ({ store }) => {
          await store.users.create(newUser());
          await rejectsWith(
            store.users.create(newUser({ id: 'u-2', username: 'ALICE' })),
            'conflict',
            'a user named "ALICE" already exists (usernames are case-insensitive)',
          );
          await store.users.create(newUser({ id: 'u-emile', username: 'Émile' }));
          await rejectsWith(
            store.users.create(newUser({ id: 'u-3', username: 'émile' })),
            'conflict',
            'a user named "émile" already exists (usernames are case-insensitive)',
          );
          await rejectsWith(store.users.create(newUser({ username: 'bob' })), 'conflict', 'a user with id "u-alice" already exists');
          assert.equal(await store.users.count(), 2);
        }),
      );

      test(
        'findByUsername ignores case and keeps the stored spelling',
        withStore(async ({ store }) => {
          await store.users.create(newUser({ id: 'u-emile', username: 'Émile' }));
          assert.equal((await store.users.findByUsername('ÉMILE'))?.id, 'u-emile');
          assert.equal((await store.users.findByUsername('émile'))?.username, 'Émile');
          assert.equal(await store.users.findByUsername('emile'), undefined);
          assert.equal(await store.users.findByUsername('%'), undefined);
        }),
      );

      test(
        'list is ordered by username, case-insensitively, the same on every engine',
        withStore(async ({ store }) => {
          for (const [id, username] of [
            ['1', 'carol'],
            ['2', 'Bob'],
            ['3', 'alice'],
            ['4', 'Zed'],
            ['5', 'alice2'],
            ['6', 'Émile'],
            ['7', '_ops'],
          ]) {
            await store.users.create(newUser({ id: id!, username: username! }));
          }
          assert.deepEqual(
            (await store.users.list()).map((u) => u.username),
            ['_ops', 'alice', 'alice2', 'Bob', 'carol', 'Zed', 'Émile'],
          );
          assert.equal(await store.users.count(), 7);
        }),
      );

      test(
        'update changes only the patched fields and stamps updatedAt',
        withStore(async ({ store, clock }) => {
          await store.users.create(newUser());
          clock.advance(5000);
          const updated = await store.users.update('u-alice', { email: null, emailVerified: false, groups: ['ops'], disabled: true });
          const expected = {
            ...newUser(),
            email: null,
            emailVerified: false,
            groups: ['ops'],
            disabled: true,
            createdAt: T0,
            updatedAt: T0 + 5000,
          };
          assert.deepEqual(updated, expected);
          assert.deepEqual(await store.users.get('u-alice'), expected);
          clock.advance(5000);
          const renamed = await store.users.update('u-alice', { name: 'A. L.', passwordHash: null });
          assert.deepEqual(renamed, { ...expected, name: 'A. L.', passwordHash: null, updatedAt: T0 + 10_000 });
        }),
      );

      test(
        'update of an unknown user gives undefined; an empty patch changes nothing',
        withStore(async ({ store, clock }) => {
          assert.equal(await store.users.update('u-nobody', { disabled: true }), undefined);
          assert.equal(await store.users.count(), 0);
          const created = await store.users.create(newUser());
          clock.advance(1000);
          assert.deepEqual(await store.users.update('u-alice', {}), created);
          assert.equal(await store.users.update('u-nobody', {}), undefined);
        }),
      );
    });

    describe('sessions', () => {
      test(
        'create and get round-trip; revokedAt starts null; duplicate ids conflict without naming the id',
        withStore(async ({ store }) => {
          await store.sessions.create(newSession());
          assert.deepEqual(await store.sessions.get('s-1'), { ...newSession(), revokedAt: null });
          await store.sessions.create(newSession({ id: 's-2', ip: null, userAgent: null }));
          assert.deepEqual(await store.sessions.get('s-2'), { ...newSession({ id: 's-2', ip: null, userAgent: null }), revokedAt: null });
          await rejectsWith(store.sessions.create(newSession()), 'conflict', 'a session with this id already exists');
          assert.equal(await store.sessions.get('s-unknown'), undefined);
        }),
      );

      test(
        'factors: recorded at creation or later (a step-up), null for a password only',
        withStore(async ({ store }) => {
          await store.sessions.create(newSession({ factors: '{"amr":["pwd","otp","mfa"],"mfaAt":1}' }));
          const { factors: _f, ...plain } = newSession({ id: 's-2' });
          await store.sessions.create(plain);
          assert.equal((await store.sessions.get('s-1'))?.factors, '{"amr":["pwd","otp","mfa"],"mfaAt":1}');
          assert.equal((await store.sessions.get('s-2'))?.factors, null);
          assert.equal(await store.sessions.setFactors('s-2', '{"amr":["pwd","hwk","user","mfa"]}'), true);
          assert.equal((await store.sessions.get('s-2'))?.factors, '{"amr":["pwd","hwk","user","mfa"]}');
          assert.equal(await store.sessions.setFactors('s-9', '{}'), false);
        }),
      );

      test(
        'touch writes a batch, keeps the latest of duplicates, never moves lastSeenAt backwards, ignores unknown ids',
        withStore(async ({ store }) => {
          await store.sessions.create(newSession({ id: 's-1' }));
          await store.sessions.create(newSession({ id: 's-2' }));
          await store.sessions.create(newSession({ id: 's-3' }));
          await store.sessions.touch([
            { id: 's-1', lastSeenAt: T0 + 300 },
            { id: 's-2', lastSeenAt: T0 + 500 },
            { id: 's-2', lastSeenAt: T0 + 400 },
            { id: 's-unknown', lastSeenAt: T0 + 900 },
          ]);
          await store.sessions.touch([
            { id: 's-1', lastSeenAt: T0 + 100 },
            { id: 's-3', lastSeenAt: T0 - 1 },
          ]);
          await store.sessions.touch([]);
          assert.deepEqual((await store.sessions.list()).map((s) => [s.id, s.lastSeenAt]).sort(), [
            ['s-1', T0 + 300],
            ['s-2', T0 + 500],
            ['s-3', T0],
          ]);
          assert.equal(await store.sessions.get('s-unknown'), undefined);
        }),
      );

      test(
        'revoke: true once for an active session, false when already revoked, expired or unknown',
        withStore(async ({ store }) => {
          await store.sessions.create(newSession({ id: 's-1' }));
          await store.sessions.create(newSession({ id: 's-old', expiresAt: T0 + HOUR }));
          assert.equal(await store.sessions.revoke('s-1', T0 + 10), true);
          assert.equal(await store.sessions.revoke('s-1', T0 + 20), false);
          assert.equal((await store.sessions.get('s-1'))?.revokedAt, T0 + 10);
          // expiresAt === at: already expired (active means expiresAt > at), so nothing to revoke.
          assert.equal(await store.sessions.revoke('s-old', T0 + HOUR), false);
          assert.equal((await store.sessions.get('s-old'))?.revokedAt, null);
          assert.equal(await store.sessions.revoke('s-unknown', T0), false);
        }),
      );

      test(
        "revokeForUser revokes only that user's active sessions and returns their ids",
        withStore(async ({ store }) => {
          await store.sessions.create(newSession({ id: 's-a1' }));
          await store.sessions.create(newSession({ id: 's-a2' }));
          await store.sessions.create(newSession({ id: 's-a-revoked' }));
          await store.sessions.create(newSession({ id: 's-a-expired', expiresAt: T0 + 50 }));
          await store.sessions.create(newSession({ id: 's-b1', userId: 'u-bob' }));
          assert.equal(await store.sessions.revoke('s-a-revoked', T0 + 10), true);
          assert.deepEqual(await store.sessions.revokeForUser('u-alice', T0 + 100), ['s-a1', 's-a2']);
          assert.deepEqual((await store.sessions.list()).map((s) => [s.id, s.revokedAt]).sort(), [
            ['s-a-expired', null],
            ['s-a-revoked', T0 + 10],
            ['s-a1', T0 + 100],
            ['s-a2', T0 + 100],
            ['s-b1', null],
          ]);
          assert.deepEqual(await store.sessions.revokeForUser('u-alice', T0 + 200), []);
          assert.deepEqual(await store.sessions.revokeForUser('u-nobody', T0), []);
        }),
      );

      test(
        'list: newest first; filters by user and by activity at a time (expiresAt > activeAt, not revoked)',
        withStore(async ({ store }) => {
          await store.sessions.create(newSession({ id: 's-1', createdAt: T0 + 1 }));
          await store.sessions.create(newSession({ id: 's-3', createdAt: T0 + 3, expiresAt: T0 + HOUR }));
          await store.sessions.create(newSession({ id: 's-2', createdAt: T0 + 2, userId: 'u-bob' }));
          await store.sessions.create(newSession({ id: 's-4', createdAt: T0 + 4 }));
          await store.sessions.create(newSession({ id: 's-4b', createdAt: T0 + 4 }));
          await store.sessions.revoke('s-4', T0 + 10);
          const ids = async (f?: { userId?: string; activeAt?: number }): Promise<string[]> =>
            (await store.sessions.list(f)).map((s) => s.id);
          assert.deepEqual(await ids(), ['s-4b', 's-4', 's-3', 's-2', 's-1']);
          assert.deepEqual(await ids({}), ['s-4b', 's-4', 's-3', 's-2', 's-1']);
          assert.deepEqual(await ids({ userId: 'u-alice' }), ['s-4b', 's-4', 's-3', 's-1']);
          assert.deepEqual(await ids({ activeAt: T0 + HOUR - 1 }), ['s-4b', 's-3', 's-2', 's-1']);
          assert.deepEqual(await ids({ activeAt: T0 + HOUR }), ['s-4b', 's-2', 's-1']);
          assert.deepEqual(await ids({ userId: 'u-alice', activeAt: T0 + HOUR }), ['s-4b', 's-1']);
          assert.deepEqual(await ids({ userId: 'u-nobody' }), []);
          assert.deepEqual((await store.sessions.list({ userId: 'u-bob' }))[0], {
            ...newSession({ id: 's-2', createdAt: T0 + 2, userId: 'u-bob' }),
            revokedAt: null,
          });
        }),
      );

      test(
        'revokedSince: revoked at or after since and not expired at now, oldest revocation first',
        withStore(async ({ store }) => {
          await store.sessions.create(newSession({ id: 's-before', expiresAt: T0 + HOUR }));
          await store.sessions.create(newSession({ id: 's-at', expiresAt: T0 + HOUR }));
          await store.sessions.create(newSession({ id: 's-later', expiresAt: T0 + 2 * HOUR }));
          await store.sessions.create(newSession({ id: 's-expires-now', expiresAt: T0 + 500 }));
          await store.sessions.create(newSession({ id: 's-active', expiresAt: T0 + HOUR }));
          await store.sessions.revoke('s-before', T0 + 99);
          await store.sessions.revoke('s-later', T0 + 300);
          await store.sessions.revoke('s-at', T0 + 100);
          await store.sessions.revoke('s-expires-now', T0 + 200);
          assert.deepEqual(await store.sessions.revokedSince(T0 + 100, T0 + 500), [
            { id: 's-at', revokedAt: T0 + 100, expiresAt: T0 + HOUR },
            { id: 's-later', revokedAt: T0 + 300, expiresAt: T0 + 2 * HOUR },
          ]);
          assert.deepEqual(await store.sessions.revokedSince(T0 + 100, T0 + HOUR), [
            { id: 's-later', revokedAt: T0 + 300, expiresAt: T0 + 2 * HOUR },
          ]);
          assert.deepEqual(await store.sessions.revokedSince(T0 + 301, T0), []);
        }),
      );

      test(
        'deleteExpired deletes sessions with expiresAt <= before, revoked or not, and counts them',
        withStore(async ({ store }) => {
          await store.sessions.create(newSession({ id: 's-gone', expiresAt: T0 + 100 }));
          await store.sessions.create(newSession({ id: 's-edge', expiresAt: T0 + 200 }));
          await store.sessions.create(newSession({ id: 's-revoked-gone', expiresAt: T0 + 150 }));
          await store.sessions.create(newSession({ id: 's-revoked-kept', expiresAt: T0 + 201 }));
          await store.sessions.create(newSession({ id: 's-kept', expiresAt: T0 + 201 }));
          await store.sessions.revoke('s-revoked-gone', T0 + 1);
          await store.sessions.revoke('s-revoked-kept', T0 + 1);
          assert.equal(await store.sessions.deleteExpired(T0 + 200), 3);
          assert.deepEqual((await store.sessions.list()).map((s) => s.id).sort(), ['s-kept', 's-revoked-kept']);
          assert.equal(await store.sessions.deleteExpired(T0 + 200), 0);
        }),
      );
    });

    describe('tickets', () => {
      test(
        'a ticket is consumed once, then never again; unknown ids give undefined',
        withStore(async ({ store }) => {
          await store.tickets.put('h-1', '{"u":"alice","r":"https://app.example.net/"}', T0 + 60_000);
          assert.equal(await store.tickets.consume('h-1', T0), '{"u":"alice","r":"https://app.example.net/"}');
          assert.equal(await store.tickets.consume('h-1', T0), undefined);
          assert.equal(await store.tickets.consume('h-unknown', T0), undefined);
        }),
      );

      test(
        'expiry: valid while now < expiresAt, gone at expiresAt',
        withStore(async ({ store }) => {
          await store.tickets.put('h-live', 'a', T0 + 1000);
          await store.tickets.put('h-dead', 'b', T0 + 1000);
          assert.equal(await store.tickets.consume('h-live', T0 + 999), 'a');
          assert.equal(await store.tickets.consume('h-dead', T0 + 1000), undefined);
          assert.equal(await store.tickets.consume('h-dead', T0), undefined);
        }),
      );

      test(
        '20 concurrent consumes of one ticket: exactly one gets the payload',
        withStore(async ({ store }) => {
          await store.tickets.put('h-race', 'payload', T0 + 60_000);
          const results = await Promise.all(Array.from({ length: 20 }, () => store.tickets.consume('h-race', T0)));
          assert.deepEqual(
            results.filter((r) => r !== undefined),
            ['payload'],
          );
          assert.equal(results.filter((r) => r === undefined).length, 19);
        }),
      );

      test(
        'a duplicate id conflicts without naming it; expired tickets are swept on consume',
        withStore(async ({ store }) => {
          await store.tickets.put('h-1', 'first', T0 + 100);
          await rejectsWith(store.tickets.put('h-1', 'second', T0 + 100), 'conflict', 'a ticket with this id already exists');
          assert.equal(await store.tickets.consume('h-other', T0 + 100), undefined);
          // h-1 expired and was swept by that consume, so its id is free again.
          await store.tickets.put('h-1', 'again', T0 + 1000);
          assert.equal(await store.tickets.consume('h-1', T0 + 500), 'again');
        }),
      );
    });

    describe('replays (DPoP proof ids)', () => {
      test(
        'a key is accepted once while it lives, again once it expired; keys are independent',
        withStore(async ({ store }) => {
          assert.equal(await store.replays.once('k-1', T0 + 1000, T0), true);
          assert.equal(await store.replays.once('k-1', T0 + 5000, T0 + 999), false);
          assert.equal(await store.replays.once('k-2', T0 + 1000, T0), true);
          // At expiresAt the record is gone: the key may be recorded again, with its new expiry.
          assert.equal(await store.replays.once('k-1', T0 + 3000, T0 + 1000), true);
          assert.equal(await store.replays.once('k-1', T0 + 9000, T0 + 2999), false);
        }),
      );

      test(
        '20 concurrent claims of one key: exactly one wins',
        withStore(async ({ store }) => {
          const results = await Promise.all(Array.from({ length: 20 }, () => store.replays.once('k-race', T0 + 60_000, T0)));
          assert.equal(results.filter((r) => r).length, 1);
        }),
      );

      test(
        'deleteExpired removes only expired records and counts them',
        withStore(async ({ store }) => {
          await store.replays.once('k-a', T0 + 100, T0);
          await store.replays.once('k-b', T0 + 200, T0);
          await store.replays.once('k-c', T0 + 300, T0);
          assert.equal(await store.replays.deleteExpired(T0 + 200), 2);
          assert.equal(await store.replays.once('k-c', T0 + 900, T0 + 250), false);
          assert.equal(await store.replays.deleteExpired(T0 + 200), 0);
        }),
      );
    });

    describe('audit', () => {
      test(
        'append and list: newest first (ties: last appended first), ids, detail round-trips',
        withStore(async ({ store }) => {
          await store.audit.append({ at: T0 + 1, actor: 'alice', action: 'session.create', target: null, outcome: 'ok', detail: {} });
          await store.audit.append({
            at: T0 + 3,
            actor: 'admin',
            action: 'user.disable',
            target: 'u-bob',
            outcome: 'denied',
            detail: { reason: 'not admin', n: 3, nested: { list: [1, 'two', null], ok: true } },
          });
          await store.audit.append({
            at: T0 + 2,
            actor: 'alice',
            action: 'session.revoke',
            target: 's-1',
            outcome: 'error',
            detail: { ü: 'ñ' },
          });
          await store.audit.append({ at: T0 + 3, actor: 'cli', action: 'migrate', target: null, outcome: 'ok', detail: {} });
          const all = await store.audit.list();
          assert.deepEqual(
            all.map((e) => [e.actor, e.action]),
            [
              ['cli', 'migrate'],
              ['admin', 'user.disable'],
              ['alice', 'session.revoke'],
              ['alice', 'session.create'],
            ],
          );
          assert.deepEqual(all[1], {
            id: all[1]!.id,
            at: T0 + 3,
            actor: 'admin',
            action: 'user.disable',
            target: 'u-bob',
            outcome: 'denied',
            detail: { reason: 'not admin', n: 3, nested: { list: [1, 'two', null], ok: true } },
          });
          assert.deepEqual(all[2]?.detail, { ü: 'ñ' });
          const ids = all.map((e) => e.id);
          assert.ok(ids.every((id) => Number.isInteger(id)));
          assert.equal(new Set(ids).size, 4);
          assert.ok(all[0]!.id > all[1]!.id, 'a later append gets a larger id');
        }),
      );

      test(
        'list honours limit and actor; a bad limit is rejected',
        withStore(async ({ store }) => {
          for (let i = 0; i < 5; i++)
            await store.audit.append({
              at: T0 + i,
              actor: i % 2 ? 'bob' : 'alice',
              action: `a${i}`,
              target: null,
              outcome: 'ok',
              detail: {},
            });
          assert.deepEqual(
            (await store.audit.list({ limit: 2 })).map((e) => e.action),
            ['a4', 'a3'],
          );
          assert.deepEqual(
            (await store.audit.list({ actor: 'alice' })).map((e) => e.action),
            ['a4', 'a2', 'a0'],
          );
          assert.deepEqual(
            (await store.audit.list({ actor: 'alice', limit: 1 })).map((e) => e.action),
            ['a4'],
          );
          assert.deepEqual(await store.audit.list({ actor: 'nobody' }), []);
          await rejectsWith(store.audit.list({ limit: 0 }), 'invalid_request', 'audit list limit must be a positive integer (got 0)');
          await rejectsWith(store.audit.list({ limit: 1.5 }), 'invalid_request', 'audit list limit must be a positive integer (got 1.5)');
        }),
      );

      test(
        'list filters by action, target, outcome and a time range [since, until); every filter given must match',
        withStore(async ({ store }) => {
          const ev = (at: number, actor: string, action: string, target: string | null, outcome: 'ok' | 'denied' | 'error' = 'ok') =>
            store.audit.append({ at, actor, action, target, outcome, detail: {} });
          await ev(T0, 'alice', 'sign_in', null);
          await ev(T0 + 10, 'bob', 'sign_in', null, 'denied');
          await ev(T0 + 20, 'alice', 'oidc_consent', 'grafana');
          await ev(T0 + 30, 'cli', 'agent_create', 'agent:builder');
          await ev(T0 + 40, 'agent:builder', 'agent_token', 'https://mcp.example.org/mcp');
          const names = async (q: Parameters<typeof store.audit.list>[0]) =>
            (await store.audit.list(q)).map((e) => `${e.actor}/${e.action}`);
          assert.deepEqual(await names({ action: 'sign_in' }), ['bob/sign_in', 'alice/sign_in']);
          assert.deepEqual(await names({ target: 'grafana' }), ['alice/oidc_consent']);
          assert.deepEqual(await names({ outcome: 'denied' }), ['bob/sign_in']);
          assert.deepEqual(await names({ since: T0 + 20 }), ['agent:builder/agent_token', 'cli/agent_create', 'alice/oidc_consent']);
          assert.deepEqual(await names({ until: T0 + 20 }), ['bob/sign_in', 'alice/sign_in']);
          assert.deepEqual(await names({ since: T0 + 10, until: T0 + 31 }), ['cli/agent_create', 'alice/oidc_consent', 'bob/sign_in']);
          assert.deepEqual(await names({ since: T0 + 10, until: T0 + 10 }), []);
          assert.deepEqual(await names({ actor: 'alice', action: 'sign_in' }), ['alice/sign_in']);
          assert.deepEqual(await names({ actor: 'alice', action: 'sign_in', since: T0 + 1 }), []);
          assert.deepEqual(await names({ actor: 'agent:builder', target: 'https://mcp.example.org/mcp', limit: 5 }), [
            'agent:builder/agent_token',
          ]);
          // Values are data, never SQL.
          assert.deepEqual(await names({ actor: "alice' OR '1'='1" }), []);
          assert.deepEqual(await names({ action: '%' }), []);
          await rejectsWith(
            store.audit.list({ outcome: 'maybe' as 'ok' }),
            'invalid_request',
            'audit outcome must be ok, denied or error (got "maybe")',
          );
          await rejectsWith(
            store.audit.list({ since: 1.5 }),
            'invalid_request',
            'audit since must be a time in epoch milliseconds (got 1.5)',
          );
          await rejectsWith(
            store.audit.list({ until: Number.NaN }),
            'invalid_request',
            'audit until must be a time in epoch milliseconds (got NaN)',
          );
          await rejectsWith(
            store.audit.list({ since: T0 + 1, until: T0 }),
            'invalid_request',
            /^audit since \(.+\) is after until \(.+\)$/,
          );
        }),
      );

      test(
        'property: list(query) is exactly the reference filter over what was appended, newest first, cut at limit',
        withStore(async ({ store }) => {
          const ACTORS = ['alice', 'bob', 'agent:x', 'cli'];
          const ACTIONS = ['sign_in', 'sign_out', 'oidc_consent'];
          const TARGETS = [null, 'grafana', 'agent:x'];
          const OUTCOMES = ['ok', 'denied', 'error'] as const;
          const appended: {
            id: number;
            at: number;
            actor: string;
            action: string;
            target: string | null;
            outcome: 'ok' | 'denied' | 'error';
          }[] = [];
          // A fixed pseudo-random log (ties in `at` included), then generated queries over it.
          let seed = 7;
          const next = (n: number) => {
            seed = (seed * 1103515245 + 12345) % 2147483648;
            return seed % n;
          };
          for (let i = 0; i < 60; i++) {
            const e = {
              at: T0 + next(20),
              actor: ACTORS[next(4)]!,
              action: ACTIONS[next(3)]!,
              target: TARGETS[next(3)]!,
              outcome: OUTCOMES[next(3)]!,
            };
            await store.audit.append({ ...e, detail: { i } });
            appended.push({ ...e, id: i });
          }
          const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
          await fc.assert(
            fc.asyncProperty(
              fc.record({
                actor: opt(fc.constantFrom(...ACTORS)),
                action: opt(fc.constantFrom(...ACTIONS)),
                target: opt(fc.constantFrom('grafana', 'agent:x')),
                outcome: opt(fc.constantFrom(...OUTCOMES)),
                since: opt(fc.integer({ min: T0 - 1, max: T0 + 21 })),
                until: opt(fc.integer({ min: T0 - 1, max: T0 + 21 })),
                limit: opt(fc.integer({ min: 1, max: 70 })),
              }),
              async (raw) => {
                const q = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)) as typeof raw;
                if (q.since !== undefined && q.until !== undefined && q.since > q.until) return;
                const expected = appended
                  .filter(
                    (e) =>
                      (q.actor === undefined || e.actor === q.actor) &&
                      (q.action === undefined || e.action === q.action) &&
                      (q.target === undefined || e.target === q.target) &&
                      (q.outcome === undefined || e.outcome === q.outcome) &&
                      (q.since === undefined || e.at >= q.since) &&
                      (q.until === undefined || e.at < q.until),
                  )
                  .sort((a, b) => b.at - a.at || b.id - a.id)
                  .slice(0, q.limit ?? 100)
                  .map((e) => e.id);
                const got = (await store.audit.list(q)).map((e) => e.detail.i);
                assert.deepEqual(got, expected, JSON.stringify(q));
              },
            ),
            { numRuns: 150 },
          );
        }),
      );

      test(
        'list defaults to the newest 100',
        withStore(async ({ store }) => {
          for (let i = 0; i < 101; i++)
            await store.audit.append({ at: T0 + i, actor: 'x', action: `a${i}`, target: null, outcome: 'ok', detail: {} });
          const all = await store.audit.list();
          assert.equal(all.length, 100);
          assert.equal(all[0]?.action, 'a100');
          assert.equal(all[99]?.action, 'a1');
        }),
      );
    });

    describe('identities', () => {
      const ident = (over: Partial<Omit<IdentityRecord, 'createdAt'>> = {}): Omit<IdentityRecord, 'createdAt'> => ({
        connectorId: 'github',
        subject: '583231',
        userId: 'u-alice',
        username: 'octocat',
        email: 'alice@example.org',
        groups: ['acme:admins'],
        tokens: 'sealed-tokens',
        signedInAt: T0,
        refreshedAt: T0,
        ...over,
      });

      test(
        'users.delete removes the user and its linked identities; false for an unknown id',
        withStore(async ({ store }) => {
          await store.users.create(newUser());
          await store.users.create(newUser({ id: 'u-bob', username: 'bob' }));
          await store.identities.link(ident(), T0);
          await store.identities.link(ident({ subject: 'bob-sub', userId: 'u-bob' }), T0);
          assert.equal(await store.users.delete('u-alice'), true);
          assert.equal(await store.users.get('u-alice'), undefined);
          assert.equal(await store.users.findByUsername('alice'), undefined);
          assert.deepEqual(await store.identities.forUser('u-alice'), []);
          assert.equal((await store.identities.forUser('u-bob')).length, 1);
          assert.equal(await store.users.delete('u-alice'), false);
          // The username is free again.
          await store.users.create(newUser({ id: 'u-alice-2' }));
        }),
      );

      test(
        'link, get and forUser round-trip every field; createdAt is the given time',
        withStore(async ({ store }) => {
          const linked = await store.identities.link(ident(), T0 + 5);
          const expected: IdentityRecord = { ...ident(), createdAt: T0 + 5 };
          assert.deepEqual(linked, expected);
          assert.deepEqual(await store.identities.get('github', '583231'), expected);
          assert.equal(await store.identities.get('github', '583232'), undefined);
          assert.equal(await store.identities.get('oidc', '583231'), undefined);
          assert.deepEqual(await store.identities.forUser('u-alice'), [expected]);
          assert.deepEqual(await store.identities.forUser('u-alice', 'oidc'), []);
          assert.deepEqual(await store.identities.forUser('u-bob'), []);
        }),
      );

      test(
        'the same subject at another connector is another identity; a duplicate is a conflict',
        withStore(async ({ store }) => {
          await store.identities.link(ident(), T0);
          await store.identities.link(ident({ connectorId: 'oidc', signedInAt: T0 + 1, tokens: null, groups: [] }), T0);
          await rejectsWith(
            store.identities.link(ident({ userId: 'u-bob' }), T0),
            'conflict',
            'the upstream identity "583231" of connector "github" is already linked',
          );
          // Newest sign-in first.
          assert.deepEqual(
            (await store.identities.forUser('u-alice')).map((i) => i.connectorId),
            ['oidc', 'github'],
          );
          assert.deepEqual(
            (await store.identities.forUser('u-alice', 'github')).map((i) => i.subject),
            ['583231'],
          );
        }),
      );

      test(
        'update changes only the patched fields; unknown identity gives undefined; unlink removes it once',
        withStore(async ({ store }) => {
          await store.identities.link(ident(), T0);
          const updated = await store.identities.update('github', '583231', {
            groups: ['acme:ops'],
            tokens: null,
            refreshedAt: T0 + 60_000,
          });
          assert.deepEqual(updated, { ...ident(), groups: ['acme:ops'], tokens: null, refreshedAt: T0 + 60_000, createdAt: T0 });
          assert.deepEqual(await store.identities.update('github', '583231', {}), updated);
          assert.equal(await store.identities.update('github', 'nobody', { groups: [] }), undefined);
          assert.equal(await store.identities.unlink('github', '583231'), true);
          assert.equal(await store.identities.unlink('github', '583231'), false);
          assert.equal(await store.identities.get('github', '583231'), undefined);
        }),
      );
    });

    describe('users by verified email', () => {
      test(
        'only verified addresses match, case-insensitively, ordered by username',
        withStore(async ({ store }) => {
          await store.users.create(newUser({ id: 'u-2', username: 'zed', email: 'Alice@Example.org' }));
          await store.users.create(newUser({ id: 'u-1', username: 'alice' }));
          await store.users.create(newUser({ id: 'u-3', username: 'mallory', email: 'alice@example.org', emailVerified: false }));
          await store.users.create(newUser({ id: 'u-4', username: 'bob', email: 'bob@example.org' }));
          await store.users.create(newUser({ id: 'u-5', username: 'noemail', email: null, emailVerified: false }));
          assert.deepEqual(
            (await store.users.findByVerifiedEmail('ALICE@example.org')).map((u) => u.username),
            ['alice', 'zed'],
          );
          assert.deepEqual(await store.users.findByVerifiedEmail('carol@example.org'), []);
        }),
      );
    });

    describe('revocation feed', () => {
      test(
        'every subscriber gets each published id within a second, in order',
        withStore(async ({ store }) => {
          const a = collect(store, 2);
          const b = collect(store, 2);
          await store.revocations.publish('s-1');
          await store.revocations.publish('s-2');
          assert.deepEqual(await a.done, ['s-1', 's-2']);
          assert.deepEqual(await b.done, ['s-1', 's-2']);
          a.unsubscribe();
          b.unsubscribe();
        }),
      );

      test(
        'an unsubscribed callback gets nothing more; a throwing subscriber is logged and does not stop the others',
        withStore(async ({ store, logger }) => {
          const gone = collect(store, 1);
          await store.revocations.publish('s-1');
          await gone.done;
          gone.unsubscribe();
          const thrower = store.revocations.subscribe(() => {
            throw new Error('subscriber bug');
          });
          const stays = collect(store, 1);
          await store.revocations.publish('s-2');
          assert.deepEqual(await stays.done, ['s-2']);
          // Delivery to all subscribers of one id happens together, so `gone` would have it by now.
          assert.deepEqual(gone.ids, ['s-1']);
          assert.deepEqual(
            logger.lines.filter((l) => l.level === 'error').map((l) => [l.msg, l.fields.err]),
            [['a revocation subscriber threw; the others still got the revocation', 'subscriber bug']],
          );
          thrower();
          stays.unsubscribe();
        }),
      );
    });

    oidcContract(withStore);
    factorsContract(withStore);
    peopleContract(withStore);
  });
}
