// Turns a validated config into the settings the gate and portal read. Built whole and
// swapped whole on reload.
import { createHash } from 'node:crypto';
import type { Config } from '../config/index.ts';
import { KeyRing } from '../crypto/index.ts';
import { compilePolicy } from '../policy/index.ts';
import { TrustedProxies } from '../http/index.ts';
import type { GateSettings } from '../web/index.ts';

export const EMBEDDED_PUBLIC_URL = 'http://localhost:4180';

/** A cookie name unique to this instance, so a sidecar's cookie of the usual name never collides. */
export function defaultCookieName(publicUrl: string): string {
  return `_gatehouse_${createHash('sha256').update(publicUrl).digest('hex').slice(0, 8)}`;
}

export function buildSettings(config: Config, secrets: string[], previous?: GateSettings): GateSettings {
  const publicUrl = new URL(config.publicUrl ?? EMBEDDED_PUBLIC_URL);
  // Keep the previous ring when the secrets did not change, so caches keyed on it stay warm.
  const fresh = KeyRing.fromSecrets(secrets);
  const keyring = previous && previous.keyring.keyIds.join() === fresh.keyIds.join() ? previous.keyring : fresh;
  const headerNames = [config.headers, ...config.apps.map((a) => a.headers).filter((h) => h !== undefined)];
  return {
    publicUrl,
    portalHost: publicUrl.host.toLowerCase(),
    cookieName: config.session.cookieName ?? defaultCookieName(publicUrl.origin + publicUrl.pathname),
    // Browsers keep Secure cookies on http://localhost too, but not on other http hosts.
    secureCookies: publicUrl.protocol === 'https:' || publicUrl.hostname === 'localhost',
    domains: config.domains.map((d) => ({ domain: d.domain, cookieDomain: d.cookieDomain, allowHttp: d.allowHttp })),
    policy: compilePolicy(config.apps, config.headers),
    trusted: new TrustedProxies(config.trustedProxies),
    keyring,
    defaultHeaders: config.headers,
    loginStateMs: config.session.loginStateLifetime,
    sessionLifetimeMs: config.session.lifetime,
    identityHeaderNames: [
      ...new Set(headerNames.flatMap((h) => [h.user, h.email, h.groups, h.preferredUsername]).map((n) => n.toLowerCase())),
    ],
    factorsRequired:
      config.factors.totp || config.factors.passkeys
        ? { everyone: config.factors.require.everyone, groups: new Set(config.factors.require.groups) }
        : null,
  };
}
