// The provider's features (oidc-provider's `features` option) and the algorithms it accepts:
// RP-initiated and back-channel logout, resource indicators (RFC 8707), client credentials, DPoP
// (RFC 9449), registration and its management (RFC 7591/7592), client ID metadata documents.
import { randomBytes } from 'node:crypto';
import { errors, type Client, type KoaContextWithOIDC } from 'oidc-provider';
import { contentSecurityPolicy } from '../web/index.ts';
import { findResource, resourceServerInfo } from './resources.ts';
import type { ProviderDeps } from './provider.ts';

export function featureOptions(d: ProviderDeps) {
  const { config } = d;
  const t = config.issuer;
  const cimd = t.clientMetadata;
  const resourceTTL = t.accessTokenLifetime;
  return {
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx: KoaContextWithOIDC, form: string) => {
          // The confirm form's POST ends in a redirect to post_logout_redirect_uri (already checked
          // against the client's list by oidc-provider); CSP form-action must allow that origin.
          const back = ctx.oidc.params?.post_logout_redirect_uri;
          let origin: string | undefined;
          try {
            origin = typeof back === 'string' ? new URL(back).origin : undefined;
          } catch {
            origin = undefined;
          }
          ctx.set('content-security-policy', contentSecurityPolicy({ formAction: origin && /^https?:/.test(origin) ? [origin] : [] }));
          ctx.type = 'html';
          ctx.body = d.logoutPage(form, (ctx.oidc.client?.clientName as string | undefined) ?? null);
        },
        postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => {
          ctx.type = 'html';
          ctx.body = d.signedOutPage();
        },
      },
      backchannelLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // RFC 8707 §2: an unknown resource is invalid_target. oidc-provider asks before the grant
        // handler runs, so a refused /token request leaves the code unconsumed. Known: resources[]
        // and apps[].audience (resources.ts).
        getResourceServerInfo: (_ctx: KoaContextWithOIDC, indicator: string) => {
          const r = findResource(config, indicator);
          if (!r) throw new errors.InvalidTarget();
          return resourceServerInfo(r, resourceTTL);
        },
        // No resource named: the configured default (else an opaque token for userinfo only).
        defaultResource: (_ctx: KoaContextWithOIDC, _client: Client, oneOf?: string[]) => oneOf ?? t.defaultResource,
        // A refresh without `resource` keeps the audience the grant was for.
        useGrantedResource: () => true,
      },
      clientCredentials: { enabled: true },
      // RFC 9449: a proof at /token binds the tokens to its key (cnf.jkt). oidc-provider checks
      // typ, alg (enabledJWA below), the embedded public jwk, the signature, htm, htu, ath and
      // the jti (ReplayDetection, through the adapter: shared by every replica). No nonceSecret:
      // nonces are not offered (§8 is optional), so iat decides freshness; the window is
      // narrowed to issuer.dpop.proofLifetime below (oidc-provider's own is five minutes).
      dPoP: { enabled: t.dpop.enabled },
      registration: {
        enabled: t.registration !== 'off',
        initialAccessToken: t.registration === 'token' ? t.registrationToken : false,
        issueRegistrationAccessToken: true,
        // 128 random bits in hex: never starts with "-" (oidc-provider's default alphabet does,
        // one id in 32), which every command line would read as an option.
        idFactory: () => randomBytes(16).toString('hex'),
      },
      // RFC 7592: registration_client_uri answers GET/PUT/DELETE with the registration access token.
      registrationManagement: { enabled: t.registration !== 'off', rotateRegistrationAccessToken: false },
      clientIdMetadataDocument: {
        enabled: cimd.enabled,
        ack: 'draft-02',
        // The client_id is an https URL with a path (not just an origin).
        allowFetch: (_ctx: KoaContextWithOIDC, id: string) => new URL(id).pathname !== '/',
        cacheDuration: { min: 0, max: 86_400 },
      },
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
      introspectionSigningAlgValues: ['RS256', 'ES256'],
      authorizationSigningAlgValues: ['RS256', 'ES256'],
      dPoPSigningAlgValues: [...t.dpop.algorithms],
    },
  };
}
