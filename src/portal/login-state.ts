// The sign-in in progress travels in a short-lived sealed cookie, not in server memory, so any
// replica can finish what another began and nothing is left to reap. It carries the CSRF token
// the form must echo (a login-CSRF defence) and its own expiry.
import { randomId } from '../core/index.ts';
import { timingSafeEqualString, type KeyRing } from '../crypto/index.ts';

const PURPOSE = 'login-state';

interface LoginState { csrf: string; exp: number }

export function newLoginState(keyring: KeyRing, now: number, lifetimeMs: number): { csrf: string; sealed: string } {
  const csrf = randomId(18);
  const state: LoginState = { csrf, exp: now + lifetimeMs };
  return { csrf, sealed: keyring.seal(PURPOSE, JSON.stringify(state)) };
}

/** The CSRF token of a live login state, or undefined. */
export function openLoginState(keyring: KeyRing, sealed: string | undefined, now: number): string | undefined {
  if (!sealed) return undefined;
  const raw = keyring.unseal(PURPOSE, sealed);
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw.toString('utf8')) as LoginState;
    return typeof s.csrf === 'string' && typeof s.exp === 'number' && s.exp > now ? s.csrf : undefined;
  } catch { return undefined; }
}

export function csrfMatches(expected: string | undefined, given: string | null): boolean {
  return expected !== undefined && given !== null && timingSafeEqualString(expected, given);
}
