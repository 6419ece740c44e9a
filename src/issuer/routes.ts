// The issuer's paths and the few rules its other modules share with the oidc-provider
// configuration (provider.ts). Kept apart from provider.ts so that importing the issuer does not
// load oidc-provider: the provider is built, and the package loaded, only when the config has
// clients or resources, or when the first request for its paths arrives (issuer.ts).
import type { ClientConfig } from '../config/index.ts';
import type { Identity } from '../core/index.ts';
import { ACR_VALUES } from '../policy/index.ts';

export const ROUTES = {
  authorization: '/oidc/auth',
  token: '/oidc/token',
  jwks: '/oidc/jwks',
  userinfo: '/oidc/me',
  end_session: '/oidc/session/end',
  registration: '/oidc/reg',
  introspection: '/oidc/token/introspection',
  revocation: '/oidc/token/revocation',
  pushed_authorization_request: '/oidc/request',
  device_authorization: '/oidc/device/auth',
  code_verification: '/oidc/device',
  backchannel_authentication: '/oidc/backchannel',
  challenge: '/oidc/challenge',
  credential: '/oidc/credential',
} as const;

export const INTERACTION_PATH = '/oidc/interaction/';

/** Whether a user may use a client at all (clients[].allowedGroups). */
export function mayUse(c: ClientConfig | undefined, identity: Identity): boolean {
  if (!c?.allowedGroups) return true;
  return identity.groups.some((g) => c.allowedGroups?.includes(g));
}

/** The marker the issuer adds when it asks for consent on a client's behalf (offline_access, see issuer.ts). */
export const IMPLIED_CONSENT_PARAM = 'gatehouse_implied_consent';

/** The acr_values of a request that this issuer knows (in the order asked). */
export function requestedAcrs(param: unknown): string[] {
  return (typeof param === 'string' ? param.split(' ') : []).filter((v) => (ACR_VALUES as readonly string[]).includes(v));
}
