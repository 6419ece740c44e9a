// A sign-in between its first factor and its second, or a step-up, travels in the login cookie
// (sealed, short-lived, only on the portal's /oauth2/ paths), like an upstream sign-in's state:
// no server memory, so any replica finishes what another began.
//   2fa   the password (or the upstream provider) was right; `first` is how; a second factor
//         makes the session
//   step  a signed-in session (sid) must prove a factor again (apps[].factors, acr_values,
//         factors.require); success gives the same session a new cookie
import type { KeyRing } from '../../crypto/index.ts';
import type { FactorState } from '../../policy/index.ts';

const PURPOSE = 'factor-pending';

export type Need = 'any' | 'passkey';

export type Pending =
  | { k: '2fa'; uid: string; rd: string; first: FactorState; via?: string; groups?: string[]; exp: number }
  | { k: 'step'; uid: string; sid: string; rd: string; need: Need; exp: number };

export function sealPending(keyring: KeyRing, p: Pending): string {
  return keyring.seal(PURPOSE, JSON.stringify(p));
}

export function openPending(keyring: KeyRing, sealed: string | undefined, now: number): Pending | null {
  if (!sealed) return null;
  const raw = keyring.unseal(PURPOSE, sealed);
  if (!raw) return null;
  try {
    const p = JSON.parse(raw.toString('utf8')) as Pending;
    if (
      (p.k !== '2fa' && p.k !== 'step') ||
      typeof p.uid !== 'string' ||
      typeof p.rd !== 'string' ||
      typeof p.exp !== 'number' ||
      p.exp <= now
    )
      return null;
    return p;
  } catch {
    return null;
  }
}
