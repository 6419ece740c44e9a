import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  acrOf,
  acrSatisfies,
  acrTime,
  authenticationFor,
  stepUpParams,
  tokenFactorState,
  UNDATED,
  type FactorState,
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

const MFA = 'urn:gatehouse:acr:mfa';
const PHR = 'urn:gatehouse:acr:phr';
const ONE = 'urn:gatehouse:acr:1fa';

test('authenticationFor: acr and auth_time name one authentication, the latest of the class given', () => {
  // Password at T, authenticator app 30 minutes later (a step-up).
  const stepped = withMethod(NO_FACTORS, 'otp', T + 30 * MIN);
  assert.deepEqual(authenticationFor(stepped, T, [], null, T + 31 * MIN), { ok: true, acr: MFA, at: T + 30 * MIN });
  assert.deepEqual(authenticationFor(stepped, T, [MFA], 15 * MIN, T + 31 * MIN), { ok: true, acr: MFA, at: T + 30 * MIN });
  // The step-up was 16 minutes before: max_age 15m asks for the step again, not a new sign-in.
  assert.deepEqual(authenticationFor(stepped, T, [MFA], 15 * MIN, T + 46 * MIN), { ok: false, stepUp: 'any' });
  // A passkey at T, an authenticator code at T+30m: phr is dated by the passkey, mfa by the code.
  const both = withMethod(passkeySignIn(T), 'otp', T + 30 * MIN);
  assert.deepEqual(authenticationFor(both, T, [PHR], null, T + 31 * MIN), { ok: true, acr: PHR, at: T });
  assert.deepEqual(authenticationFor(both, T, [PHR], 15 * MIN, T + 31 * MIN), { ok: false, stepUp: 'passkey' });
  assert.deepEqual(authenticationFor(both, T, [MFA, PHR], 15 * MIN, T + 31 * MIN), { ok: true, acr: MFA, at: T + 30 * MIN });
  assert.deepEqual(authenticationFor(both, T, [], 15 * MIN, T + 31 * MIN), { ok: true, acr: MFA, at: T + 30 * MIN });
  // Not reached: the weakest class asked for; a plain sign-in too old: a fresh sign-in.
  assert.deepEqual(authenticationFor(NO_FACTORS, T, [PHR, MFA], null, T), { ok: false, stepUp: 'any' });
  assert.deepEqual(authenticationFor(stepped, T, [PHR], null, T), { ok: false, stepUp: 'passkey' });
  assert.deepEqual(authenticationFor(NO_FACTORS, T, [], 60_000, T + 2 * MIN), { ok: false, signIn: true });
  assert.deepEqual(authenticationFor(NO_FACTORS, T, [ONE], null, T + 2 * MIN), { ok: true, acr: ONE, at: T });
  assert.equal(acrTime(both, T, ONE), T + 30 * MIN);
});

test('tokenFactorState: acr dates its class at auth_time; what else amr lists counts only without maxAge', () => {
  const sec = T / 1000;
  const phr = tokenFactorState(['hwk', 'user', 'mfa'], PHR, sec);
  assert.deepEqual(phr, { amr: ['hwk', 'user', 'mfa'], mfaAt: T, passkeyAt: T });
  const mfaAfterPasskey = tokenFactorState(['hwk', 'user', 'otp', 'mfa'], MFA, sec);
  assert.equal(mfaAfterPasskey.mfaAt, T);
  assert.equal(mfaAfterPasskey.passkeyAt, UNDATED);
  assert.equal(factorShortfall(mfaAfterPasskey, { factors: 'passkey', maxAgeMs: null }, T + MIN), null, 'a passkey was used');
  assert.deepEqual(factorShortfall(mfaAfterPasskey, { factors: 'passkey', maxAgeMs: 15 * MIN }, T + MIN), {
    need: 'passkey',
    why: 'too-old',
  });
  assert.equal(factorShortfall(mfaAfterPasskey, { factors: 'any', maxAgeMs: 15 * MIN }, T + MIN), null);
  assert.deepEqual(tokenFactorState(['pwd'], ONE, sec), { amr: ['pwd'], mfaAt: null, passkeyAt: null });
  assert.deepEqual(tokenFactorState(['pwd', 'otp', 'mfa'], undefined, undefined), {
    amr: ['pwd', 'otp', 'mfa'],
    mfaAt: UNDATED,
    passkeyAt: null,
  });
  assert.deepEqual(stepUpParams({ factors: 'passkey', maxAgeMs: 90_500 }), { acr: PHR, maxAgeSeconds: 90 });
  assert.deepEqual(stepUpParams({ factors: 'any', maxAgeMs: null }), { acr: MFA, maxAgeSeconds: null });
});

test('property: a token issued from a session (authenticationFor) meets a requirement only when the session does', () => {
  fc.assert(
    fc.property(
      fc.option(fc.nat(1000), { nil: null }),
      fc.boolean(),
      fc.constantFrom<FactorKind>('any', 'passkey'),
      fc.option(fc.integer({ min: 1, max: 1000 }), { nil: null }),
      fc.nat(2000),
      fc.subarray([ONE, MFA, PHR]),
      (mfaS, passkeyFirst, factors, maxAgeS, nowS, wanted) => {
        // Seconds, as tokens carry them. The passkey, when used, came first or was the last factor.
        const mfaAt = mfaS === null ? null : mfaS * 1000;
        const passkeyAt = mfaAt === null || !passkeyFirst ? null : Math.max(0, mfaAt - 500_000);
        const state: FactorState = {
          amr: ['pwd', ...(passkeyAt !== null ? ['hwk'] : []), ...(mfaAt !== null ? ['mfa'] : [])],
          mfaAt,
          passkeyAt,
        };
        const now = nowS * 1000 + (mfaAt ?? 0);
        const req = { factors, maxAgeMs: maxAgeS === null ? null : maxAgeS * 1000 };
        const auth = authenticationFor(state, 0, wanted, null, now);
        if (!auth.ok) return;
        const token = tokenFactorState(state.amr, auth.acr, Math.floor(auth.at / 1000));
        if (factorShortfall(token, req, now) === null) assert.equal(factorShortfall(state, req, now), null);
      },
    ),
  );
});
