// The form guard (http/form-guard.ts) for this instance's settings: one cookie, one origin, for
// every form the portal, the issuer and the admin pages show.
import type { FormGuardOptions } from '../http/index.ts';
import { portalBase, type GateSettings } from './settings.ts';

export function formGuard(s: GateSettings, now: number): FormGuardOptions {
  return { keyring: s.keyring, cookieName: s.cookieName, path: `${portalBase(s)}/`, secure: s.secureCookies, origin: s.publicUrl.origin, now, lifetimeMs: s.loginStateMs };
}
