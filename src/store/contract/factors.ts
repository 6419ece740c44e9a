// The contract of the second-factor port (FactorStore), run by suite.ts for every adapter
// against its real engine: single use of TOTP steps and recovery codes under concurrency,
// passkey ownership, and removal of everything a person has.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ManualClock } from '../../core/index.ts';
import type { PasskeyRecord, Store } from '../ports.ts';
import { rejectsWith } from './suite.ts';

type WithStore = (fn: (c: { store: Store; clock: ManualClock }) => Promise<void>) => () => Promise<void>;

const T0 = Date.UTC(2026, 0, 1);

function passkey(id: string, userId: string, over: Partial<PasskeyRecord> = {}): PasskeyRecord {
  return {
    id,
    userId,
    name: `key ${id}`,
    publicKey: `pk-${id}`,
    counter: 0,
    transports: ['internal', 'hybrid'],
    discoverable: true,
    backedUp: false,
    createdAt: T0,
    lastUsedAt: null,
    ...over,
  };
}

export function factorsContract(withStore: WithStore): void {
  describe('second factors', () => {
    test(
      'totp: put, read, replace; unknown users give undefined',
      withStore(async ({ store }) => {
        assert.equal(await store.factors.totp('u-1'), undefined);
        await store.factors.putTotp({ userId: 'u-1', sealedSecret: 's1', confirmedAt: null, lastStep: null, createdAt: T0 });
        assert.deepEqual(await store.factors.totp('u-1'), {
          userId: 'u-1',
          sealedSecret: 's1',
          confirmedAt: null,
          lastStep: null,
          createdAt: T0,
        });
        await store.factors.putTotp({ userId: 'u-1', sealedSecret: 's2', confirmedAt: T0 + 5, lastStep: 9, createdAt: T0 + 1 });
        assert.deepEqual(await store.factors.totp('u-1'), {
          userId: 'u-1',
          sealedSecret: 's2',
          confirmedAt: T0 + 5,
          lastStep: 9,
          createdAt: T0 + 1,
        });
        assert.equal(await store.factors.deleteTotp('u-1'), true);
        assert.equal(await store.factors.deleteTotp('u-1'), false);
      }),
    );

    test(
      'totp steps: only a newer step is accepted; an unconfirmed authenticator only when confirming',
      withStore(async ({ store }) => {
        await store.factors.putTotp({ userId: 'u-1', sealedSecret: 's', confirmedAt: null, lastStep: null, createdAt: T0 });
        assert.equal(await store.factors.useTotpStep('u-1', 100, T0 + 1, false), false, 'unconfirmed: not a sign-in factor yet');
        assert.equal(await store.factors.useTotpStep('u-1', 100, T0 + 2, true), true);
        assert.equal((await store.factors.totp('u-1'))?.confirmedAt, T0 + 2);
        assert.equal(await store.factors.useTotpStep('u-1', 100, T0 + 3, false), false, 'the same step twice');
        assert.equal(await store.factors.useTotpStep('u-1', 99, T0 + 3, false), false, 'an older step');
        assert.equal(await store.factors.useTotpStep('u-1', 101, T0 + 4, false), true);
        assert.equal((await store.factors.totp('u-1'))?.confirmedAt, T0 + 2, 'confirmation time is kept');
        assert.equal(await store.factors.useTotpStep('u-2', 500, T0, true), false, 'no authenticator');
      }),
    );

    test(
      'totp steps: of concurrent uses of one step exactly one wins',
      withStore(async ({ store }) => {
        await store.factors.putTotp({ userId: 'u-1', sealedSecret: 's', confirmedAt: T0, lastStep: 1, createdAt: T0 });
        const results = await Promise.all(Array.from({ length: 8 }, () => store.factors.useTotpStep('u-1', 2, T0, false)));
        assert.equal(results.filter(Boolean).length, 1);
      }),
    );

    test(
      'passkeys: add, list oldest first, find by id; duplicate ids conflict whoever owns them',
      withStore(async ({ store }) => {
        await store.factors.addPasskey(passkey('c-2', 'u-1', { createdAt: T0 + 10 }));
        await store.factors.addPasskey(passkey('c-1', 'u-1', { discoverable: false, backedUp: true, transports: [] }));
        await store.factors.addPasskey(passkey('c-3', 'u-2'));
        assert.deepEqual(
          (await store.factors.passkeys('u-1')).map((p) => p.id),
          ['c-1', 'c-2'],
        );
        assert.deepEqual(
          await store.factors.passkey('c-1'),
          passkey('c-1', 'u-1', { discoverable: false, backedUp: true, transports: [] }),
        );
        assert.equal(await store.factors.passkey('nope'), undefined);
        await rejectsWith(store.factors.addPasskey(passkey('c-1', 'u-2')), 'conflict', 'this credential is registered already');
      }),
    );

    test(
      'passkeys: use records counter and time; rename and delete only by their owner',
      withStore(async ({ store }) => {
        await store.factors.addPasskey(passkey('c-1', 'u-1'));
        assert.equal(await store.factors.usePasskey('c-1', 7, T0 + 60_000), true);
        assert.equal(await store.factors.usePasskey('nope', 7, T0), false);
        const used = await store.factors.passkey('c-1');
        assert.deepEqual([used?.counter, used?.lastUsedAt], [7, T0 + 60_000]);
        assert.equal(await store.factors.renamePasskey('u-2', 'c-1', 'stolen'), false);
        assert.equal(await store.factors.renamePasskey('u-1', 'c-1', 'Laptop "work" ✓'), true);
        assert.equal((await store.factors.passkey('c-1'))?.name, 'Laptop "work" ✓');
        assert.equal(await store.factors.deletePasskey('u-2', 'c-1'), false);
        assert.equal(await store.factors.deletePasskey('u-1', 'c-1'), true);
        assert.equal(await store.factors.passkey('c-1'), undefined);
      }),
    );

    test(
      'recovery codes: each used once, only by its owner; a new set replaces the old',
      withStore(async ({ store }) => {
        await store.factors.setRecoveryCodes('u-1', ['h1', 'h2', 'h3'], T0);
        assert.equal(await store.factors.recoveryCodesLeft('u-1'), 3);
        assert.equal(await store.factors.useRecoveryCode('u-2', 'h1', T0), false);
        assert.equal(await store.factors.useRecoveryCode('u-1', 'h1', T0), true);
        assert.equal(await store.factors.useRecoveryCode('u-1', 'h1', T0), false);
        assert.equal(await store.factors.recoveryCodesLeft('u-1'), 2);
        const race = await Promise.all(Array.from({ length: 6 }, () => store.factors.useRecoveryCode('u-1', 'h2', T0)));
        assert.equal(race.filter(Boolean).length, 1);
        await store.factors.setRecoveryCodes('u-1', ['h4', 'h5'], T0 + 1);
        assert.equal(await store.factors.useRecoveryCode('u-1', 'h3', T0), false, 'old codes are gone');
        assert.equal(await store.factors.recoveryCodesLeft('u-1'), 2);
      }),
    );

    test(
      'deleteAll removes every factor of one person and says what there was',
      withStore(async ({ store }) => {
        await store.factors.putTotp({ userId: 'u-1', sealedSecret: 's', confirmedAt: T0, lastStep: 1, createdAt: T0 });
        await store.factors.addPasskey(passkey('c-1', 'u-1'));
        await store.factors.addPasskey(passkey('c-2', 'u-1'));
        await store.factors.addPasskey(passkey('c-3', 'u-2'));
        await store.factors.setRecoveryCodes('u-1', ['h1', 'h2', 'h3'], T0);
        await store.factors.useRecoveryCode('u-1', 'h1', T0);
        assert.deepEqual(await store.factors.deleteAll('u-1'), { totp: true, passkeys: 2, recoveryCodes: 2 });
        assert.deepEqual(await store.factors.deleteAll('u-1'), { totp: false, passkeys: 0, recoveryCodes: 0 });
        assert.equal(await store.factors.totp('u-1'), undefined);
        assert.deepEqual(await store.factors.passkeys('u-1'), []);
        assert.equal(await store.factors.recoveryCodesLeft('u-1'), 0);
        assert.equal((await store.factors.passkeys('u-2')).length, 1);
      }),
    );
  });
}
