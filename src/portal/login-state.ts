// A sign-in at an upstream provider travels in a short-lived sealed cookie, not in server memory,
// so any replica can finish what another began and nothing is left to reap. (The password form's
// CSRF token is the form guard's, http/form-guard.ts, like every other form.) It carries its own
// expiry, the provider, where to go afterwards, and the values that bind the provider's
// answer to this browser: state (RFC 6749 §10.12), nonce (OIDC Core §3.1.2.1) and the PKCE
// verifier (RFC 7636). The cookie is sealed, so none of them can be read or chosen by the browser.
import { randomBytes } from 'node:crypto';
import { randomId } from '../core/index.ts';
import type { KeyRing } from '../crypto/index.ts';

const PURPOSE = 'login-state';

interface LoginState {
  csrf: string;
  exp: number;
  up?: UpstreamState;
}

export interface UpstreamState {
  provider: string;
  rd: string;
  state: string;
  nonce: string;
  verifier: string;
  /** What the sign-in is for besides signing in: take up this invitation (its token), or link to this (signed-in) user id. */
  invite?: string;
  link?: string;
}

/** A login state for a sign-in at `provider`: fresh state, nonce and PKCE verifier (43 characters, RFC 7636 §4.1). */
export function newUpstreamState(
  keyring: KeyRing,
  now: number,
  lifetimeMs: number,
  provider: string,
  rd: string,
  intent: { invite?: string; link?: string } = {},
): { up: UpstreamState; sealed: string } {
  const up: UpstreamState = {
    provider,
    rd,
    state: randomId(18),
    nonce: randomId(18),
    verifier: randomBytes(32).toString('base64url'),
    ...intent,
  };
  const state: LoginState = { csrf: randomId(18), exp: now + lifetimeMs, up };
  return { up, sealed: keyring.seal(PURPOSE, JSON.stringify(state)) };
}

function open(keyring: KeyRing, sealed: string | undefined, now: number): LoginState | undefined {
  if (!sealed) return undefined;
  const raw = keyring.unseal(PURPOSE, sealed);
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw.toString('utf8')) as LoginState;
    return typeof s.csrf === 'string' && typeof s.exp === 'number' && s.exp > now ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The upstream part of a live login state, or undefined. */
export function openUpstreamState(keyring: KeyRing, sealed: string | undefined, now: number): UpstreamState | undefined {
  const up = open(keyring, sealed, now)?.up;
  if (!up || [up.provider, up.rd, up.state, up.nonce, up.verifier].some((v) => typeof v !== 'string')) return undefined;
  if ((up.invite !== undefined && typeof up.invite !== 'string') || (up.link !== undefined && typeof up.link !== 'string'))
    return undefined;
  return up;
}
