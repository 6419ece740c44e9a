import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { KeyRing } from '../crypto/index.ts';
import { checkForm, issueFormToken, REFERRER_POLICY, type FormGuardOptions } from './form-guard.ts';

const T0 = Date.UTC(2026, 5, 1);
const ORIGIN = 'https://auth.example.org';
const ring = KeyRing.fromSecrets(['a'.repeat(64)]);
const other = KeyRing.fromSecrets(['b'.repeat(64)]);
const opts = (over: Partial<FormGuardOptions> = {}): FormGuardOptions => ({
  keyring: ring,
  cookieName: 'gh',
  path: '/',
  secure: true,
  origin: ORIGIN,
  now: T0,
  lifetimeMs: 15 * 60_000,
  ...over,
});
const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage;
const cookieOf = (setCookie: string | undefined): string => (setCookie ?? '').split(';')[0] ?? '';

test('Referrer-Policy is same-origin (no-referrer makes a browser post Origin: null)', () => {
  assert.equal(REFERRER_POLICY, 'same-origin');
});

test('issue: a new sealed cookie when there is none, HttpOnly, Secure, SameSite=Lax, for the login-state lifetime; a live one is reused', () => {
  const first = issueFormToken(opts(), req({}));
  assert.match(first.token, /^[A-Za-z0-9_-]{24}$/);
  assert.match(first.setCookie ?? '', /^gh_csrf=[^;]+; Path=\/; Max-Age=900; Secure; HttpOnly; SameSite=Lax$/);
  const cookie = cookieOf(first.setCookie);
  const again = issueFormToken(opts({ now: T0 + 7 * 60_000 }), req({ cookie }));
  assert.deepEqual(again, { token: first.token, setCookie: undefined }, 'reused with more than half its life left');
  const late = issueFormToken(opts({ now: T0 + 8 * 60_000 }), req({ cookie }));
  assert.notEqual(late.token, first.token, 'replaced with less than half left');
  const foreign = issueFormToken(opts({ keyring: other }), req({ cookie }));
  assert.notEqual(foreign.token, first.token, 'a cookie sealed under another key is not opened');
});

// The generated table: every combination of Sec-Fetch-Site, Origin and token, against the rule.
const SITES = [undefined, 'same-origin', 'same-site', 'cross-site', 'none', 'SAME-ORIGIN', ''];
const ORIGINS = [
  undefined,
  ORIGIN,
  'null',
  'https://evil.example.org',
  'http://auth.example.org',
  'https://auth.example.org:8443',
  `${ORIGIN}/`,
  'HTTPS://AUTH.EXAMPLE.ORG',
  '',
];
type TokenCase = 'right' | 'missing' | 'empty' | 'wrong' | 'no-cookie' | 'expired' | 'other-key';
const TOKENS: TokenCase[] = ['right', 'missing', 'empty', 'wrong', 'no-cookie', 'expired', 'other-key'];

function post(site: string | undefined, origin: string | undefined, tok: TokenCase) {
  const issued = issueFormToken(opts({ keyring: tok === 'other-key' ? other : ring }), req({}));
  const headers: Record<string, string> = {};
  if (site !== undefined) headers['sec-fetch-site'] = site;
  if (origin !== undefined) headers.origin = origin;
  if (tok !== 'no-cookie') headers.cookie = `a=1; ${cookieOf(issued.setCookie)}; b=2`;
  const form = new URLSearchParams({ decision: 'allow' });
  if (tok !== 'missing')
    form.set(
      'csrf',
      tok === 'empty' ? '' : tok === 'wrong' ? `${issued.token.slice(0, -1)}${issued.token.endsWith('x') ? 'y' : 'x'}` : issued.token,
    );
  return checkForm(opts({ now: tok === 'expired' ? T0 + 15 * 60_000 : T0 + 1 }), req(headers), form);
}

test('every combination: accepted exactly when Sec-Fetch-Site is absent or same-origin, Origin absent or ours, and the token matches a live cookie', () => {
  let accepted = 0;
  for (const site of SITES)
    for (const origin of ORIGINS)
      for (const tok of TOKENS) {
        const r = post(site, origin, tok);
        const headersOk = (site === undefined || site === 'same-origin') && (origin === undefined || origin === ORIGIN);
        const expected = headersOk && tok === 'right';
        assert.equal(r.ok, expected, JSON.stringify({ site, origin, tok, r }));
        if (!r.ok) assert.equal(r.rule, headersOk ? 'token' : 'origin', JSON.stringify({ site, origin, tok }));
        if (r.ok) accepted++;
      }
  assert.equal(accepted, 4);
});

test('property: any Origin other than ours, and any Sec-Fetch-Site other than same-origin, is refused even with the right token', () => {
  fc.assert(
    fc.property(fc.option(fc.string(), { nil: undefined }), fc.option(fc.string(), { nil: undefined }), (origin, site) => {
      const r = post(site, origin, 'right');
      const ok = (site === undefined || site === 'same-origin') && (origin === undefined || origin === ORIGIN);
      return r.ok === ok;
    }),
    { numRuns: 500 },
  );
});
