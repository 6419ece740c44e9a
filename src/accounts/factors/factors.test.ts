// The factor domain against a real (in-memory SQLite) store and a frozen clock: TOTP enrolment
// confirmed by a first code, ±1 step, each code once, throttling per account and address that
// never holds another account, secrets sealed at rest, recovery codes hashed and single use,
// who must use a factor, and the audit trail.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import fc from 'fast-check';
import { ManualClock, MemoryLogger } from '../../core/index.ts';
import { KeyRing } from '../../crypto/index.ts';
import { openStore, type Store, type UserRecord } from '../../store/index.ts';
import { SignInThrottle } from '../throttle.ts';
import { Factors, type FactorSettings } from './factors.ts';
import { normalizeRecoveryCode } from './recovery.ts';

const SECRET = '+IgCoVQqg0/lBY/ijpasDEt4ezf5x0YQM8oB0e4TIME=';
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const IP = '192.0.2.1';

let clock: ManualClock;
let store: Store;
let factors: Factors;
let alice: UserRecord;
let bob: UserRecord;
let settings: FactorSettings;

const codeAt = (secret: string, ms: number): Promise<string> => generate({ secret, epoch: Math.floor(ms / 1000) });

/** Enrols alice's authenticator at T0 and returns its secret. */
async function enrolAlice(): Promise<string> {
  const e = await factors.beginTotp(alice);
  assert.equal((await factors.confirmTotp(alice, e.pending, await codeAt(e.secret, clock.now()), IP)).ok, true);
  return e.secret;
}

beforeEach(async () => {
  clock = new ManualClock(T0);
  const logger = new MemoryLogger();
  store = await openStore({ url: 'sqlite::memory:', logger, clock });
  await store.migrate();
  const mk = (id: string, username: string, groups: string[]) =>
    store.users.create({
      id,
      username,
      email: null,
      emailVerified: false,
      name: null,
      groups,
      passwordHash: null,
      disabled: false,
    });
  alice = await mk('u-alice', 'alice', ['admins']);
  bob = await mk('u-bob', 'bob', []);
  settings = {
    totp: true,
    passkeys: true,
    requireEveryone: false,
    requireGroups: ['admins'],
    totpIssuer: 'Gatehouse',
    rp: { id: 'auth.example.test', name: 'Gatehouse', origin: 'https://auth.example.test' },
  };
  const keyring = KeyRing.fromSecrets([SECRET]);
  factors = new Factors({
    store,
    clock,
    logger,
    keyring: () => keyring,
    settings: () => settings,
    throttle: new SignInThrottle({ perAccount: 5, perAddress: 20, windowMs: 15 * 60_000 }, clock),
  });
});

afterEach(async () => {
  await store.close();
});

describe('TOTP', () => {
  test('enrolment: the page gets a QR code as SVG and the secret in text; a wrong first code stores nothing', async () => {
    const e = await factors.beginTotp(alice);
    assert.match(e.secret, /^[A-Z2-7]{32}$/, '20 bytes in base32');
    assert.equal(e.uri, `otpauth://totp/Gatehouse:alice?secret=${e.secret}&issuer=Gatehouse`);
    assert.match(e.svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(e.svg.includes(e.secret), false, 'the SVG is drawn, not a text copy');
    const wrong = (Number(await codeAt(e.secret, T0)) + 1) % 1_000_000;
    assert.deepEqual(await factors.confirmTotp(alice, e.pending, String(wrong).padStart(6, '0'), IP), { ok: false, reason: 'invalid' });
    assert.equal(await store.factors.totp(alice.id), undefined);
    assert.equal((await factors.status(alice.id)).totp, false);
  });

  test('a pending enrolment belongs to its user and expires', async () => {
    const e = await factors.beginTotp(alice);
    assert.deepEqual(await factors.confirmTotp(bob, e.pending, await codeAt(e.secret, T0), IP), { ok: false, reason: 'invalid' });
    clock.advance(15 * 60_000 + 1);
    assert.deepEqual(await factors.confirmTotp(alice, e.pending, await codeAt(e.secret, clock.now()), IP), {
      ok: false,
      reason: 'invalid',
    });
  });

  test("the secret is sealed at rest: the stored value is not the secret and does not open as another user's", async () => {
    const secret = await enrolAlice();
    const rec = await store.factors.totp(alice.id);
    assert.ok(rec);
    assert.equal(rec.sealedSecret.includes(secret), false);
    assert.equal(Buffer.from(rec.sealedSecret, 'base64url').toString('latin1').includes(secret), false);
    // The row copied to bob: bob's codes from alice's authenticator do not work.
    await store.factors.putTotp({ ...rec, userId: bob.id, lastStep: null });
    clock.advance(30_000);
    assert.deepEqual(await factors.checkTotp(bob, await codeAt(secret, clock.now()), IP), { ok: false, reason: 'invalid' });
  });

  test('a code is accepted one step either side of now, not two', async () => {
    const secret = await enrolAlice();
    // Steps after the enrolment step; each check at its own later time so no step is reused.
    clock.advance(5 * 60_000);
    assert.equal((await factors.checkTotp(alice, await codeAt(secret, clock.now() - 30_000), IP)).ok, true, 'one step behind');
    clock.advance(5 * 60_000);
    assert.equal((await factors.checkTotp(alice, await codeAt(secret, clock.now() + 30_000), IP)).ok, true, 'one step ahead');
    clock.advance(5 * 60_000);
    assert.equal((await factors.checkTotp(alice, await codeAt(secret, clock.now() - 60_000), IP)).ok, false, 'two steps behind');
    assert.equal((await factors.checkTotp(alice, await codeAt(secret, clock.now() + 60_000), IP)).ok, false, 'two steps ahead');
    assert.equal((await factors.checkTotp(alice, await codeAt(secret, clock.now()), IP)).ok, true, 'now');
  });

  test('each code is used once: a replay, and an older code after a newer one, are refused', async () => {
    const secret = await enrolAlice();
    assert.equal((await factors.checkTotp(alice, await codeAt(secret, T0), IP)).ok, false, 'the enrolment code itself');
    clock.advance(60_000);
    const code = await codeAt(secret, clock.now());
    assert.equal((await factors.checkTotp(alice, code, IP)).ok, true);
    assert.equal((await factors.checkTotp(alice, code, IP)).ok, false, 'replayed');
    assert.equal((await factors.checkTotp(alice, await codeAt(secret, clock.now() - 30_000), IP)).ok, false, 'older than the last used');
    const audit = await store.audit.list({ actor: 'alice', action: 'factor_use' });
    assert.deepEqual(
      audit.map((a) => [a.outcome, a.detail.reason ?? null]),
      [
        ['denied', 'wrong or used code'],
        ['denied', 'wrong or used code'],
        ['ok', null],
        ['denied', 'wrong or used code'],
      ],
    );
  });

  test('codes: spaces and dashes are ignored, anything else that is not six digits is refused (generated)', async () => {
    const secret = await enrolAlice();
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 12 }), async (junk) => {
        fc.pre(!/^[\s-]*\d{6}[\s-]*$/.test(junk));
        const r = await factors.checkTotp(bob, junk, '198.51.100.7');
        assert.equal(r.ok, false);
      }),
      { numRuns: 50 },
    );
    clock.advance(60_000);
    const code = await codeAt(secret, clock.now());
    assert.equal((await factors.checkTotp(alice, ` ${code.slice(0, 3)}-${code.slice(3)} `, IP)).ok, true);
  });

  test('throttled like passwords: after 5 failures the account waits, from any address; another account is never held', async () => {
    const secret = await enrolAlice();
    for (let i = 0; i < 5; i++) assert.deepEqual(await factors.checkTotp(alice, '000000', `10.0.0.${i}`), { ok: false, reason: 'invalid' });
    clock.advance(60_000);
    const good = await codeAt(secret, clock.now());
    assert.deepEqual(await factors.checkTotp(alice, good, '10.9.9.9'), { ok: false, reason: 'throttled', retryAfterSeconds: 840 });
    // Bob, from one of the same addresses, is not held.
    const eb = await factors.beginTotp(bob);
    assert.equal((await factors.confirmTotp(bob, eb.pending, await codeAt(eb.secret, clock.now()), '10.0.0.1')).ok, true);
    clock.advance(14 * 60_000);
    assert.equal((await factors.checkTotp(alice, await codeAt(secret, clock.now()), '10.9.9.9')).ok, true, 'the window passed');
  });

  test('switched off in config: an enrolled authenticator no longer counts or works', async () => {
    const secret = await enrolAlice();
    settings = { ...settings, totp: false };
    assert.equal((await factors.status(alice.id)).totp, false);
    clock.advance(60_000);
    assert.equal((await factors.checkTotp(alice, await codeAt(secret, clock.now()), IP)).ok, false);
  });
});

describe('recovery codes', () => {
  test('ten codes of 80 bits, stored as hashes, each used once, typed in any case with or without dashes', async () => {
    const codes = await factors.newRecoveryCodes(alice);
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const c of codes) assert.match(c, /^[a-z2-9]{4}(-[a-z2-9]{4}){3}$/);
    assert.equal((await factors.status(alice.id)).recoveryCodesLeft, 10);
    const first = codes[0] as string;
    assert.equal((await factors.checkRecoveryCode(alice, first.toUpperCase().replaceAll('-', ' '), IP)).ok, true);
    assert.equal((await factors.checkRecoveryCode(alice, first, IP)).ok, false, 'used once');
    assert.equal((await factors.checkRecoveryCode(bob, codes[1] as string, IP)).ok, false, "another person's code");
    assert.equal((await factors.status(alice.id)).recoveryCodesLeft, 9);
    const fresh = await factors.newRecoveryCodes(alice);
    assert.equal((await factors.checkRecoveryCode(alice, codes[2] as string, IP)).ok, false, 'the old set is gone');
    assert.equal((await factors.checkRecoveryCode(alice, fresh[0] as string, IP)).ok, true);
    assert.equal(normalizeRecoveryCode('abcd-efgh-ijkm-npq1'), null, 'a character outside the alphabet');
  });
});

describe('who must use a second factor', () => {
  test('admins by default, everyone when asked, nobody when no factor is on', () => {
    const id = (groups: string[]) => ({ username: 'x', email: null, emailVerified: false, groups });
    assert.equal(factors.mustUse(id(['admins'])), true);
    assert.equal(factors.mustUse(id(['dev'])), false);
    settings = { ...settings, requireEveryone: true };
    assert.equal(factors.mustUse(id([])), true);
    settings = { ...settings, totp: false, passkeys: false };
    assert.equal(factors.mustUse(id(['admins'])), false);
  });
});

describe('reset', () => {
  test('removes every factor, audited with who did it', async () => {
    await enrolAlice();
    await factors.newRecoveryCodes(alice);
    assert.deepEqual(await factors.reset(alice, 'cli'), { totp: true, passkeys: 0, recoveryCodes: 10 });
    assert.deepEqual(await factors.status(alice.id), { totp: false, passkeys: [], recoveryCodesLeft: 0 });
    const [last] = await store.audit.list({ action: 'factor_reset' });
    assert.deepEqual([last?.actor, last?.target, last?.detail], ['cli', 'alice', { totp: true, passkeys: 0, recoveryCodes: 10 }]);
  });
});

describe('passkey registration options', () => {
  test('a passkey and a security key for the second step only, over one challenge and one state; own credentials excluded', async () => {
    await store.factors.addPasskey({
      id: 'cred-1',
      userId: alice.id,
      publicKey: 'AAAA',
      counter: 0,
      transports: ['usb'],
      discoverable: false,
      backedUp: false,
      name: 'Key',
      createdAt: T0,
      lastUsedAt: null,
    });
    const r = await factors.passkeyRegistrationOptions(alice);
    assert.deepEqual(r.options.authenticatorSelection, {
      residentKey: 'preferred',
      userVerification: 'preferred',
      requireResidentKey: false,
    });
    assert.deepEqual(r.keyOptions.authenticatorSelection, {
      residentKey: 'discouraged',
      userVerification: 'discouraged',
      requireResidentKey: false,
    });
    assert.equal(r.keyOptions.challenge, r.options.challenge);
    for (const o of [r.options, r.keyOptions]) {
      assert.equal(o.rp.id, 'auth.example.test');
      assert.equal(Buffer.from(o.user.id, 'base64url').toString('utf8'), alice.id);
      assert.deepEqual(o.excludeCredentials, [{ id: 'cred-1', type: 'public-key', transports: ['usb'] }]);
      assert.equal(o.attestation, 'none');
    }
  });

  test("an invitation's passkey: an account id chosen now (the user handle), discoverable and verifying its user; an answer that is not one is refused and audited", async () => {
    const a = await factors.newAccountPasskeyOptions();
    const b = await factors.newAccountPasskeyOptions();
    assert.deepEqual(a.options.authenticatorSelection, { residentKey: 'required', userVerification: 'required', requireResidentKey: true });
    assert.deepEqual(a.options.excludeCredentials, []);
    const idA = Buffer.from(a.options.user.id, 'base64url').toString('utf8');
    assert.match(idA, /^[A-Za-z0-9_-]{16}$/);
    assert.notEqual(Buffer.from(b.options.user.id, 'base64url').toString('utf8'), idA, 'a new id each time');
    const reasons = async () => (await store.audit.list({ action: 'factor_enrol' })).map((d) => [d.actor, d.outcome, d.detail.reason]);
    assert.equal(await factors.verifyNewAccountPasskey(a.state, '{"id":"x","response":{}}', IP), null);
    assert.deepEqual(await reasons(), [['-', 'denied', 'not_verified']]);
    assert.equal(await factors.verifyNewAccountPasskey('not-a-state', '{}', IP), null);
    // A state made for an existing account's security page names that account: not a new one.
    const own = await factors.passkeyRegistrationOptions(alice);
    assert.equal(await factors.verifyNewAccountPasskey(own.state, '{}', IP), null);
    assert.deepEqual((await reasons()).slice(0, 2), [
      ['-', 'denied', 'malformed'],
      ['-', 'denied', 'malformed'],
    ]);
    // Expired after the ceremony's five minutes.
    clock.advance(5 * 60_000);
    assert.equal(await factors.verifyNewAccountPasskey(b.state, '{}', IP), null);
    assert.deepEqual((await reasons())[0], ['-', 'denied', 'malformed']);
  });
});
