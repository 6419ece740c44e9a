// The contract of the issuer's ports (OidcStore, SigningKeyStore), run by suite.ts for every
// adapter against its real engine.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ManualClock } from '../../core/index.ts';
import type { OidcRecord, SigningKeyRecord, Store } from '../ports.ts';

type WithStore = (fn: (c: { store: Store; clock: ManualClock }) => Promise<void>) => () => Promise<void>;

const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;

function rec(over: Partial<OidcRecord> = {}): OidcRecord {
  return {
    payload: '{"kind":"AccessToken","accountId":"u-alice"}',
    grantId: 'g-1',
    uid: null,
    userCode: null,
    expiresAt: T0 + 10 * MIN,
    ...over,
  };
}

function key(kid: string, over: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  return {
    kid,
    alg: 'ES256',
    publicJwk: `{"kid":"${kid}"}`,
    sealedPrivateJwk: `sealed-${kid}`,
    createdAt: T0,
    retiredAt: null,
    retireAfter: null,
    ...over,
  };
}

export function oidcContract(withStore: WithStore): void {
  describe('oidc records', () => {
    test(
      'upsert then find round-trips the payload; unknown ids and other models give undefined',
      withStore(async ({ store }) => {
        await store.oidc.upsert('AccessToken', 'h-1', rec());
        assert.deepEqual(await store.oidc.find('AccessToken', 'h-1', T0), {
          payload: '{"kind":"AccessToken","accountId":"u-alice"}',
          consumedAt: null,
        });
        assert.equal(await store.oidc.find('AccessToken', 'h-2', T0), undefined);
        assert.equal(await store.oidc.find('RefreshToken', 'h-1', T0), undefined);
      }),
    );

    test(
      'expiry: found while now < expiresAt, gone at expiresAt; null never expires',
      withStore(async ({ store }) => {
        await store.oidc.upsert('AccessToken', 'h-1', rec());
        await store.oidc.upsert('Grant', 'g-1', rec({ expiresAt: null, grantId: null }));
        assert.notEqual(await store.oidc.find('AccessToken', 'h-1', T0 + 10 * MIN - 1), undefined);
        assert.equal(await store.oidc.find('AccessToken', 'h-1', T0 + 10 * MIN), undefined);
        assert.notEqual(await store.oidc.find('Grant', 'g-1', T0 + 1e12), undefined);
      }),
    );

    test(
      'consume: true once for a live record, then false; consumedAt is kept across an upsert',
      withStore(async ({ store }) => {
        await store.oidc.upsert('AuthorizationCode', 'c-1', rec());
        assert.equal(await store.oidc.consume('AuthorizationCode', 'c-1', T0 + 1), true);
        assert.equal(await store.oidc.consume('AuthorizationCode', 'c-1', T0 + 2), false);
        assert.equal(await store.oidc.consume('AuthorizationCode', 'c-2', T0 + 2), false);
        await store.oidc.upsert('AuthorizationCode', 'c-1', rec({ payload: '{"v":2}' }));
        assert.deepEqual(await store.oidc.find('AuthorizationCode', 'c-1', T0 + 3), { payload: '{"v":2}', consumedAt: T0 + 1 });
        await store.oidc.upsert('AuthorizationCode', 'c-3', rec({ expiresAt: T0 }));
        assert.equal(await store.oidc.consume('AuthorizationCode', 'c-3', T0), false, 'an expired record is not consumed');
      }),
    );

    test(
      '20 concurrent consumes of one code: exactly one wins',
      withStore(async ({ store }) => {
        await store.oidc.upsert('AuthorizationCode', 'c-1', rec());
        const wins = await Promise.all(Array.from({ length: 20 }, () => store.oidc.consume('AuthorizationCode', 'c-1', T0 + 1)));
        assert.equal(wins.filter(Boolean).length, 1);
      }),
    );

    test(
      'findByUid and findByUserCode return the id; they honour model and expiry',
      withStore(async ({ store }) => {
        await store.oidc.upsert('Session', 's-1', rec({ uid: 'uid-1', grantId: null }));
        await store.oidc.upsert('DeviceCode', 'd-1', rec({ userCode: 'uc-1' }));
        assert.deepEqual(await store.oidc.findByUid('Session', 'uid-1', T0), {
          id: 's-1',
          payload: '{"kind":"AccessToken","accountId":"u-alice"}',
          consumedAt: null,
        });
        assert.equal(await store.oidc.findByUid('Interaction', 'uid-1', T0), undefined);
        assert.equal(await store.oidc.findByUid('Session', 'uid-1', T0 + 10 * MIN), undefined);
        assert.deepEqual(await store.oidc.findByUserCode('DeviceCode', 'uc-1', T0), {
          id: 'd-1',
          payload: '{"kind":"AccessToken","accountId":"u-alice"}',
          consumedAt: null,
        });
        assert.equal(await store.oidc.findByUserCode('DeviceCode', 'uc-2', T0), undefined);
      }),
    );

    test(
      'list returns the live records of one model, ordered by id',
      withStore(async ({ store }) => {
        await store.oidc.upsert('GatehouseAgent', 'b', rec({ payload: '{"name":"b"}', grantId: null, expiresAt: null }));
        await store.oidc.upsert('GatehouseAgent', 'a', rec({ payload: '{"name":"a"}', grantId: null }));
        await store.oidc.upsert('GatehouseAgent', 'c', rec({ payload: '{"name":"c"}', grantId: null, expiresAt: T0 + MIN }));
        await store.oidc.upsert('Client', 'x', rec({ grantId: null }));
        await store.oidc.consume('GatehouseAgent', 'b', T0 + 1);
        assert.deepEqual(await store.oidc.list('GatehouseAgent', T0 + MIN), [
          { id: 'a', payload: '{"name":"a"}', consumedAt: null },
          { id: 'b', payload: '{"name":"b"}', consumedAt: T0 + 1 },
        ]);
        assert.deepEqual(await store.oidc.list('Nothing', T0), []);
      }),
    );

    test(
      "destroy removes one record; revokeByGrantId removes only that model's records of the grant",
      withStore(async ({ store }) => {
        await store.oidc.upsert('AccessToken', 'a-1', rec());
        await store.oidc.upsert('AccessToken', 'a-2', rec());
        await store.oidc.upsert('AccessToken', 'a-3', rec({ grantId: 'g-2' }));
        await store.oidc.upsert('RefreshToken', 'r-1', rec());
        await store.oidc.destroy('AccessToken', 'a-2');
        assert.equal(await store.oidc.find('AccessToken', 'a-2', T0), undefined);
        assert.equal(await store.oidc.revokeByGrantId('AccessToken', 'g-1'), 1);
        assert.equal(await store.oidc.find('AccessToken', 'a-1', T0), undefined);
        assert.notEqual(await store.oidc.find('AccessToken', 'a-3', T0), undefined);
        assert.notEqual(await store.oidc.find('RefreshToken', 'r-1', T0), undefined);
      }),
    );

    test(
      'deleteExpired deletes records with expiresAt <= before and counts them',
      withStore(async ({ store }) => {
        await store.oidc.upsert('AccessToken', 'a-1', rec({ expiresAt: T0 }));
        await store.oidc.upsert('AccessToken', 'a-2', rec({ expiresAt: T0 + 1 }));
        await store.oidc.upsert('Grant', 'g-1', rec({ expiresAt: null }));
        assert.equal(await store.oidc.deleteExpired(T0), 1);
        assert.equal(await store.oidc.deleteExpired(T0), 0);
        assert.notEqual(await store.oidc.find('Grant', 'g-1', T0), undefined);
      }),
    );
  });

  describe('record owners (account, client)', () => {
    test(
      "revokeForAccount deletes every model's records of the account, or of one client only; others stay",
      withStore(async ({ store }) => {
        await store.oidc.upsert('Grant', 'g-1', rec({ accountId: 'u-alice', clientId: 'mcp' }));
        await store.oidc.upsert('RefreshToken', 'r-1', rec({ accountId: 'u-alice', clientId: 'mcp' }));
        await store.oidc.upsert('RefreshToken', 'r-2', rec({ accountId: 'u-alice', clientId: 'grafana' }));
        await store.oidc.upsert('Session', 's-1', rec({ accountId: 'u-alice', clientId: null, uid: 'uid-1' }));
        await store.oidc.upsert('RefreshToken', 'r-3', rec({ accountId: 'u-bob', clientId: 'mcp' }));
        await store.oidc.upsert('RefreshToken', 'r-4', rec());
        assert.equal(await store.oidc.revokeForAccount('u-alice', 'mcp'), 2);
        assert.equal(await store.oidc.find('Grant', 'g-1', T0), undefined);
        assert.equal(await store.oidc.find('RefreshToken', 'r-1', T0), undefined);
        assert.notEqual(await store.oidc.find('RefreshToken', 'r-2', T0), undefined);
        assert.equal(await store.oidc.revokeForAccount('u-alice'), 2);
        assert.equal(await store.oidc.find('RefreshToken', 'r-2', T0), undefined);
        assert.equal(await store.oidc.findByUid('Session', 'uid-1', T0), undefined);
        assert.notEqual(await store.oidc.find('RefreshToken', 'r-3', T0), undefined);
        assert.notEqual(await store.oidc.find('RefreshToken', 'r-4', T0), undefined);
        assert.equal(await store.oidc.revokeForAccount('u-nobody'), 0);
      }),
    );

    test(
      'an upsert moves the owner with the record',
      withStore(async ({ store }) => {
        await store.oidc.upsert('Grant', 'g-1', rec({ accountId: 'u-alice', clientId: 'mcp' }));
        await store.oidc.upsert('Grant', 'g-1', rec({ accountId: 'u-bob', clientId: 'mcp' }));
        assert.equal(await store.oidc.revokeForAccount('u-alice'), 0);
        assert.equal(await store.oidc.revokeForAccount('u-bob', 'mcp'), 1);
      }),
    );
  });

  describe('consents', () => {
    test(
      'grant creates, then adds to the union (sorted, unique); get and list read it back',
      withStore(async ({ store }) => {
        assert.equal(await store.consents.get('u-alice', 'mcp'), undefined);
        assert.deepEqual(
          await store.consents.grant('u-alice', 'mcp', ['openid', 'mcp:tools', 'openid'], ['https://mcp.example.org/mcp'], T0),
          {
            userId: 'u-alice',
            clientId: 'mcp',
            scopes: ['mcp:tools', 'openid'],
            resources: ['https://mcp.example.org/mcp'],
            createdAt: T0,
            updatedAt: T0,
          },
        );
        assert.deepEqual(await store.consents.grant('u-alice', 'mcp', ['offline_access', 'mcp:tools'], [], T0 + MIN), {
          userId: 'u-alice',
          clientId: 'mcp',
          scopes: ['mcp:tools', 'offline_access', 'openid'],
          resources: ['https://mcp.example.org/mcp'],
          createdAt: T0,
          updatedAt: T0 + MIN,
        });
        await store.consents.grant('u-alice', 'Grafana', ['openid'], [], T0);
        await store.consents.grant('u-bob', 'mcp', ['openid'], [], T0);
        assert.deepEqual(
          (await store.consents.list('u-alice')).map((c) => c.clientId),
          ['Grafana', 'mcp'],
        );
        assert.deepEqual(await store.consents.get('u-alice', 'mcp'), (await store.consents.list('u-alice'))[1]);
        assert.deepEqual(await store.consents.list('u-carol'), []);
      }),
    );

    test(
      '20 concurrent grants of different scopes all land in the union',
      withStore(async ({ store }) => {
        const scopes = Array.from({ length: 20 }, (_, i) => `s${String(i).padStart(2, '0')}`);
        await Promise.all(scopes.map((sc, i) => store.consents.grant('u-alice', 'mcp', [sc], [`https://r${i}.example.org`], T0 + i)));
        const got = await store.consents.get('u-alice', 'mcp');
        assert.deepEqual(got?.scopes, scopes);
        assert.equal(got?.resources.length, 20);
      }),
    );

    test(
      "revoke removes one client's consent or all of the user's, and counts them",
      withStore(async ({ store }) => {
        await store.consents.grant('u-alice', 'a', ['openid'], [], T0);
        await store.consents.grant('u-alice', 'b', ['openid'], [], T0);
        await store.consents.grant('u-alice', 'c', ['openid'], [], T0);
        await store.consents.grant('u-bob', 'a', ['openid'], [], T0);
        assert.equal(await store.consents.revoke('u-alice', 'a'), 1);
        assert.equal(await store.consents.revoke('u-alice', 'a'), 0);
        assert.equal(await store.consents.revoke('u-alice'), 2);
        assert.deepEqual(await store.consents.list('u-alice'), []);
        assert.equal((await store.consents.list('u-bob')).length, 1);
      }),
    );
  });

  describe('signing keys', () => {
    test(
      'add and list (oldest first, then kid); a duplicate kid conflicts',
      withStore(async ({ store }) => {
        await store.signingKeys.add(key('k-b', { createdAt: T0 + 1, alg: 'RS256' }));
        await store.signingKeys.add(key('k-c'));
        await store.signingKeys.add(key('k-a'));
        assert.deepEqual(
          (await store.signingKeys.list()).map((k) => k.kid),
          ['k-a', 'k-c', 'k-b'],
        );
        assert.deepEqual((await store.signingKeys.list())[2], key('k-b', { createdAt: T0 + 1, alg: 'RS256' }));
        await assert.rejects(
          store.signingKeys.add(key('k-a')),
          (err: Error & { kind?: string; detail?: string }) =>
            err.kind === 'conflict' && err.detail === 'a signing key with kid "k-a" already exists',
        );
      }),
    );

    test(
      'addFirst adds only while no current key of the alg exists; retired keys and other algs do not count; concurrent calls let exactly one in',
      withStore(async ({ store }) => {
        await store.signingKeys.add(key('k-old', { retiredAt: T0, retireAfter: T0 + MIN }));
        assert.equal(await store.signingKeys.addFirst(key('k-es')), true);
        assert.equal(await store.signingKeys.addFirst(key('k-es2')), false);
        assert.equal(await store.signingKeys.addFirst(key('k-rs', { alg: 'RS256' })), true);
        assert.deepEqual(
          (await store.signingKeys.list()).map((k) => k.kid),
          ['k-es', 'k-old', 'k-rs'],
        );
        await store.signingKeys.retire(['k-es'], T0 + 1, T0 + MIN);
        const won = await Promise.all(['k-a', 'k-b', 'k-c', 'k-d'].map((kid) => store.signingKeys.addFirst(key(kid))));
        assert.equal(won.filter(Boolean).length, 1);
        assert.deepEqual(
          (await store.signingKeys.list()).filter((k) => k.alg === 'ES256' && k.retiredAt === null).map((k) => k.kid),
          [['k-a', 'k-b', 'k-c', 'k-d'][won.indexOf(true)]],
        );
        await store.signingKeys.retire(['k-rs'], T0 + 1, T0 + MIN);
        await assert.rejects(
          store.signingKeys.addFirst(key('k-old', { alg: 'RS256' })),
          (err: Error & { kind?: string; detail?: string }) =>
            err.kind === 'conflict' && err.detail === 'a signing key with kid "k-old" already exists',
        );
      }),
    );

    test(
      'retire stamps only current keys among those named; reseal replaces the sealed part',
      withStore(async ({ store }) => {
        await store.signingKeys.add(key('k-1'));
        await store.signingKeys.add(key('k-2'));
        await store.signingKeys.add(key('k-3', { retiredAt: T0, retireAfter: T0 + MIN }));
        assert.deepEqual(await store.signingKeys.retire(['k-2', 'k-1', 'k-3', 'k-x'], T0 + 5, T0 + 2 * MIN), ['k-1', 'k-2']);
        assert.deepEqual(await store.signingKeys.retire([], T0 + 5, T0 + 2 * MIN), []);
        await store.signingKeys.reseal('k-1', 'resealed');
        const byKid = new Map((await store.signingKeys.list()).map((k) => [k.kid, k]));
        assert.deepEqual(byKid.get('k-1'), key('k-1', { sealedPrivateJwk: 'resealed', retiredAt: T0 + 5, retireAfter: T0 + 2 * MIN }));
        assert.deepEqual(byKid.get('k-3'), key('k-3', { retiredAt: T0, retireAfter: T0 + MIN }));
      }),
    );

    test(
      'deleteExpired removes keys whose retireAfter <= now, never current ones',
      withStore(async ({ store }) => {
        await store.signingKeys.add(key('k-1', { retiredAt: T0, retireAfter: T0 + MIN }));
        await store.signingKeys.add(key('k-2', { retiredAt: T0, retireAfter: T0 + 2 * MIN }));
        await store.signingKeys.add(key('k-3'));
        assert.deepEqual(await store.signingKeys.deleteExpired(T0 + MIN), ['k-1']);
        assert.deepEqual(
          (await store.signingKeys.list()).map((k) => k.kid),
          ['k-2', 'k-3'],
        );
      }),
    );
  });
}
