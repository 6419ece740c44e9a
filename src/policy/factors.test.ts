import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  acrOf,
  acrSatisfies,
  describeRequirement,
  factorShortfall,
  firstFactor,
  NO_FACTORS,
  passkeySignIn,
  withMethod,
  type FactorKind,
} from './factors.ts';

const T = 1_000_000;
const MIN = 60_000;

test('a requirement is met by the right factor, used recently enough; otherwise the one missing step is named', () => {
  const otp = withMethod(NO_FACTORS, 'otp', T);
  const hwk = withMethod(NO_FACTORS, 'hwk', T, true);
  assert.deepEqual(factorShortfall(NO_FACTORS, { factors: 'any', maxAgeMs: null }, T), { need: 'any', why: 'missing' });
  assert.equal(factorShortfall(otp, { factors: 'any', maxAgeMs: null }, T + 100 * MIN), null);
  assert.deepEqual(factorShortfall(otp, { factors: 'passkey', maxAgeMs: null }, T), { need: 'passkey', why: 'missing' });
  assert.equal(factorShortfall(hwk, { factors: 'passkey', maxAgeMs: 15 * MIN }, T + 15 * MIN), null);
  assert.deepEqual(factorShortfall(hwk, { factors: 'passkey', maxAgeMs: 15 * MIN }, T + 15 * MIN + 1), { need: 'passkey', why: 'too-old' });
  assert.equal(
    factorShortfall(passkeySignIn(T), { factors: 'any', maxAgeMs: MIN }, T + MIN),
    null,
    'a user-verified passkey is two factors',
  );
});

test('amr follows RFC 8176 and acr climbs 1fa < mfa < phr', () => {
  assert.deepEqual(NO_FACTORS.amr, ['pwd']);
  assert.deepEqual(withMethod(NO_FACTORS, 'otp', T).amr, ['pwd', 'otp', 'mfa']);
  assert.deepEqual(withMethod(NO_FACTORS, 'hwk', T, true).amr, ['pwd', 'hwk', 'user', 'mfa']);
  assert.deepEqual(withMethod(withMethod(NO_FACTORS, 'otp', T), 'otp', T + 1).amr, ['pwd', 'otp', 'mfa'], 'no duplicates');
  assert.deepEqual(passkeySignIn(T).amr, ['hwk', 'user', 'mfa']);
  assert.deepEqual(
    firstFactor('fed', T, false, ['pwd', 'mfa', 'otp', 'bad value!']).amr,
    ['fed', 'pwd', 'otp'],
    'upstream mfa does not count unless trusted',
  );
  assert.deepEqual(firstFactor('fed', T, true, ['pwd', 'otp']), { amr: ['fed', 'pwd', 'otp', 'mfa'], mfaAt: T, passkeyAt: null });
  assert.equal(acrOf(NO_FACTORS), 'urn:gatehouse:acr:1fa');
  assert.equal(acrOf(withMethod(NO_FACTORS, 'kba', T)), 'urn:gatehouse:acr:mfa');
  assert.equal(acrOf(passkeySignIn(T)), 'urn:gatehouse:acr:phr');
  assert.equal(acrSatisfies('urn:gatehouse:acr:phr', 'urn:gatehouse:acr:mfa'), true);
  assert.equal(acrSatisfies('urn:gatehouse:acr:mfa', 'urn:gatehouse:acr:phr'), false);
  assert.equal(acrSatisfies('urn:gatehouse:acr:phr', 'something-else'), false);
  assert.equal(describeRequirement({ factors: 'passkey', maxAgeMs: 15 * MIN }), 'a passkey or security key used within 15m');
});

test('property: a state meets a requirement exactly when its factor time is set and within maxAge', () => {
  fc.assert(
    fc.property(
      fc.option(fc.nat(10_000), { nil: null }),
      fc.option(fc.nat(10_000), { nil: null }),
      fc.constantFrom<FactorKind>('any', 'passkey'),
      fc.option(fc.nat(10_000), { nil: null }),
      fc.nat(20_000),
      (mfaAt, passkeyAt, factors, maxAgeMs, now) => {
        const at = factors === 'passkey' ? passkeyAt : mfaAt;
        const expected = at !== null && (maxAgeMs === null || now - at <= maxAgeMs);
        assert.equal(factorShortfall({ amr: [], mfaAt, passkeyAt }, { factors, maxAgeMs }, now) === null, expected);
      },
    ),
  );
});
