// The contract of the invitation and account-link ports, run by suite.ts for every adapter
// against its real engine.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatehouseError, type ManualClock } from '../../core/index.ts';
import type { InvitationRecord, Store } from '../ports.ts';

type WithStore = (fn: (c: { store: Store; clock: ManualClock }) => Promise<void>) => () => Promise<void>;

const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;

function invitation(over: Partial<Omit<InvitationRecord, 'uses' | 'revokedAt'>> = {}): Omit<InvitationRecord, 'uses' | 'revokedAt'> {
  return {
    id: 'inv-1',
    tokenHash: 'h-1',
    groups: ['dev', 'ops'],
    email: 'new@example.org',
    maxUses: 1,
    createdBy: 'cli',
    createdAt: T0,
    expiresAt: T0 + 60 * MIN,
    ...over,
  };
}

export function peopleContract(withStore: WithStore): void {
  describe('invitations', () => {
    test(
      'create round-trips; get by id, by token hash; list newest first',
      withStore(async ({ store }) => {
        const made = await store.invitations.create(invitation());
        assert.deepEqual(made, { ...invitation(), uses: 0, revokedAt: null });
        await store.invitations.create(
          invitation({ id: 'inv-2', tokenHash: 'h-2', groups: [], email: null, maxUses: 3, createdAt: T0 + 1 }),
        );
        assert.deepEqual(await store.invitations.get('inv-1'), made);
        assert.deepEqual(await store.invitations.findByToken('h-1'), made);
        assert.equal(await store.invitations.findByToken('inv-1'), undefined);
        assert.equal(await store.invitations.get('nope'), undefined);
        assert.deepEqual(
          (await store.invitations.list()).map((i) => [i.id, i.groups, i.email, i.maxUses]),
          [
            ['inv-2', [], null, 3],
            ['inv-1', ['dev', 'ops'], 'new@example.org', 1],
          ],
        );
      }),
    );

    test(
      'a duplicate id or token hash is a conflict',
      withStore(async ({ store }) => {
        await store.invitations.create(invitation());
        for (const dup of [invitation({ tokenHash: 'h-9' }), invitation({ id: 'inv-9' })]) {
          await assert.rejects(store.invitations.create(dup), (e: unknown) => e instanceof GatehouseError && e.kind === 'conflict');
        }
      }),
    );

    test(
      'take: one use per call up to maxUses, never after expiry or revocation',
      withStore(async ({ store }) => {
        await store.invitations.create(invitation({ maxUses: 2 }));
        assert.equal((await store.invitations.take('h-1', T0))?.uses, 1);
        assert.equal((await store.invitations.take('h-1', T0))?.uses, 2);
        assert.equal(await store.invitations.take('h-1', T0), undefined);
        await store.invitations.giveBack('inv-1');
        assert.equal((await store.invitations.take('h-1', T0 + 60 * MIN - 1))?.uses, 2);
        await store.invitations.giveBack('inv-1');
        assert.equal(await store.invitations.take('h-1', T0 + 60 * MIN), undefined, 'expired at expiresAt');
        assert.equal(await store.invitations.take('nope', T0), undefined);
        assert.equal(await store.invitations.revoke('inv-1', T0 + 5), true);
        assert.equal(await store.invitations.revoke('inv-1', T0 + 6), false, 'revoked once');
        assert.equal(await store.invitations.take('h-1', T0 + 10), undefined, 'revoked');
        assert.equal((await store.invitations.get('inv-1'))?.revokedAt, T0 + 5);
      }),
    );

    test(
      'take is atomic: of 20 concurrent takers of a single-use invitation exactly one wins',
      withStore(async ({ store }) => {
        await store.invitations.create(invitation());
        const got = await Promise.all(Array.from({ length: 20 }, () => store.invitations.take('h-1', T0)));
        assert.equal(got.filter((g) => g !== undefined).length, 1);
        assert.equal((await store.invitations.get('inv-1'))?.uses, 1);
      }),
    );

    test(
      'deleteExpired removes expired and revoked invitations only',
      withStore(async ({ store }) => {
        await store.invitations.create(invitation());
        await store.invitations.create(invitation({ id: 'inv-2', tokenHash: 'h-2', expiresAt: T0 + 120 * MIN }));
        await store.invitations.create(invitation({ id: 'inv-3', tokenHash: 'h-3', expiresAt: T0 + 120 * MIN }));
        await store.invitations.revoke('inv-3', T0);
        assert.equal(await store.invitations.deleteExpired(T0 + 60 * MIN), 2);
        assert.deepEqual(
          (await store.invitations.list()).map((i) => i.id),
          ['inv-2'],
        );
      }),
    );
  });

  describe('account tokens', () => {
    const tok = (hash: string, userId = 'u-alice', expiresAt = T0 + 30 * MIN) => ({
      tokenHash: hash,
      purpose: 'reset' as const,
      userId,
      createdAt: T0,
      expiresAt,
    });

    test(
      'peek does not use; consume gives the token once; expiry at expiresAt',
      withStore(async ({ store }) => {
        await store.accountTokens.put(tok('t-1'));
        assert.deepEqual(await store.accountTokens.peek('t-1', 'reset', T0), tok('t-1'));
        assert.deepEqual(await store.accountTokens.peek('t-1', 'reset', T0), tok('t-1'));
        assert.deepEqual(await store.accountTokens.consume('t-1', 'reset', T0 + 1), tok('t-1'));
        assert.equal(await store.accountTokens.consume('t-1', 'reset', T0 + 2), undefined);
        assert.equal(await store.accountTokens.peek('t-1', 'reset', T0 + 2), undefined);
        await store.accountTokens.put(tok('t-2'));
        assert.equal(await store.accountTokens.peek('t-2', 'reset', T0 + 30 * MIN), undefined);
        assert.equal(await store.accountTokens.consume('t-2', 'reset', T0 + 30 * MIN), undefined);
        await assert.rejects(store.accountTokens.put(tok('t-2')), (e: unknown) => e instanceof GatehouseError && e.kind === 'conflict');
      }),
    );

    test(
      'consume is atomic: of 20 concurrent consumers one wins',
      withStore(async ({ store }) => {
        await store.accountTokens.put(tok('t-1'));
        const got = await Promise.all(Array.from({ length: 20 }, () => store.accountTokens.consume('t-1', 'reset', T0)));
        assert.equal(got.filter((g) => g !== undefined).length, 1);
      }),
    );

    test(
      'deleteForUser drops every token of that user; deleteExpired the expired ones',
      withStore(async ({ store }) => {
        await store.accountTokens.put(tok('t-1'));
        await store.accountTokens.put(tok('t-2'));
        await store.accountTokens.put(tok('t-3', 'u-bob', T0 + 5 * MIN));
        assert.equal(await store.accountTokens.deleteForUser('u-alice', 'reset'), 2);
        assert.equal(await store.accountTokens.peek('t-1', 'reset', T0), undefined);
        assert.equal(await store.accountTokens.deleteExpired(T0 + 5 * MIN), 1);
        assert.equal(await store.accountTokens.peek('t-3', 'reset', T0), undefined);
      }),
    );
  });
}
