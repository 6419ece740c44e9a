// The provider's token options: what access tokens carry (identity claims for the gate, an
// agent's groups and subject), ID token claims, PKCE, lifetimes, who gets refresh tokens and
// whether they rotate, and the account behind a subject.
import { type Account, type Client, type KoaContextWithOIDC } from 'oidc-provider';
import type { ClientConfig } from '../config/index.ts';
import { SCOPE_CLAIMS, userClaims } from './claims.ts';
import { agentName, agentSubject } from './agents.ts';
import { mayUse, type ProviderDeps } from './provider.ts';

export function tokenOptions(d: ProviderDeps, clients: ReadonlyMap<string, ClientConfig>) {
  const { config } = d;
  const t = config.issuer;
  const sec = (ms: number) => Math.max(1, Math.floor(ms / 1000));
  /**
   * Who gets a refresh token with an authorization code: a client allowed the refresh_token grant
   * that asked for offline_access (OpenID Connect Core §11), or a registered or metadata-document
   * client (OAuth 2.1 and MCP clients: they register the refresh_token grant to ask for one, and
   * most never send the OpenID-only offline_access). Such a token outlives the browser session.
   */
  const refreshable = (client: Client, scopes: Set<string>): boolean =>
    client.grantTypeAllowed('refresh_token') && (scopes.has('offline_access') || !clients.has(client.clientId));
  return {
    // Access tokens for a resource (or an app's audience) carry who the user is, so the gate can
    // set identity headers.
    extraTokenClaims: async (ctx: KoaContextWithOIDC, token: { accountId?: string; clientId?: string; kind?: string }) => {
      if (token.kind !== 'AccessToken' && token.kind !== 'ClientCredentials') return undefined;
      if (token.accountId) {
        const user = await d.accounts.get(token.accountId);
        if (!user) return undefined;
        const identity = d.accounts.identityOf(user);
        const allowed = clients.get(token.clientId ?? ctx.oidc.client?.clientId ?? '')?.claims;
        const out: Record<string, unknown> = { ...signInClaims(ctx) };
        if (!allowed || allowed.includes('preferred_username')) out.preferred_username = identity.username;
        if (!allowed || allowed.includes('groups')) out.groups = [...identity.groups].map(String);
        // Only a verified address: the gate's identity headers (an app behind apps[].audience)
        // take an email from a token only when it is verified.
        if (identity.email && identity.emailVerified && (!allowed || allowed.includes('email'))) {
          out.email = identity.email;
          out.email_verified = true;
        }
        return out;
      }
      const agent = agentName(token.clientId ?? '');
      if (agent === undefined) return undefined;
      const groups = await d.agents.groupsForToken(agent);
      return groups ? { groups } : undefined;
    },
    // An agent's tokens say sub: agent:<name> whichever spelling of its client id asked
    // (agent-ids.ts); oidc-provider would put the client id there.
    formats: {
      customizers: {
        jwt: (_ctx: KoaContextWithOIDC, token: { kind?: string; clientId?: string }, jwt: { payload: Record<string, unknown> }) => {
          const agent = token.kind === 'ClientCredentials' ? agentName(token.clientId ?? '') : undefined;
          if (agent !== undefined) jwt.payload.sub = agentSubject(agent);
        },
      },
    },
    // acr, amr and auth_time say how the person signed in (policy/factors.ts): in every ID token.
    claims: { openid: ['sub', 'acr', 'amr', 'auth_time'], ...SCOPE_CLAIMS },
    // Claims asked for by scope go in the ID token too (not only userinfo): the Kubernetes API
    // server and many apps read email and groups from the ID token alone.
    conformIdTokenClaims: false,
    pkce: {
      // RFC 9700 §2.1.1: PKCE for public clients; S256 is the only method oidc-provider 9 knows.
      required: (_ctx: KoaContextWithOIDC, client: Client) => client.clientAuthMethod === 'none',
    },
    ttl: {
      AccessToken: sec(t.accessTokenLifetime),
      AuthorizationCode: 60,
      IdToken: sec(t.idTokenLifetime),
      // A refresh token lives issuer.refreshTokenLifetime from the first one of its chain (iiat),
      // and a rotating one stops after issuer.refreshTokenIdle unused: each rotation starts a new
      // idle period, never past the chain's lifetime. A client that does not rotate keeps one
      // token for the whole lifetime (its idle time cannot be seen without writing on every use).
      RefreshToken: (_ctx: KoaContextWithOIDC, token: { totalLifetime?: () => number }, client: Client) => {
        const left = sec(t.refreshTokenLifetime) - (token.totalLifetime?.() ?? 0);
        const rotates = clients.get(client.clientId)?.rotateRefreshTokens ?? true;
        return Math.max(1, rotates ? Math.min(sec(t.refreshTokenIdle), left) : left);
      },
      Interaction: sec(config.session.loginStateLifetime),
      Session: sec(config.session.lifetime),
      // The grant outlives every refresh token issued under it (they count from after the consent).
      Grant: sec(t.refreshTokenLifetime + config.session.loginStateLifetime),
    },
    issueRefreshToken: async (_ctx: KoaContextWithOIDC, client: Client, code: { scopes: Set<string> }) => refreshable(client, code.scopes),
    expiresWithSession: async (ctx: KoaContextWithOIDC, code: { scopes: Set<string> }) => {
      const client = ctx.oidc.client;
      return !(client && refreshable(client, code.scopes));
    },
    // Registered and metadata-document clients always rotate (RFC 9700 §4.14.2 for public clients).
    rotateRefreshToken: (ctx: KoaContextWithOIDC) => clients.get(ctx.oidc.client?.clientId ?? '')?.rotateRefreshTokens ?? true,
    findAccount: async (ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> => {
      const user = await d.accounts.get(sub);
      if (!user || user.disabled) return undefined;
      const identity = d.accounts.identityOf(user);
      const client = clients.get(ctx.oidc.client?.clientId ?? '');
      // A user removed from allowedGroups gets no more tokens, refresh included.
      if (!mayUse(client, identity)) return undefined;
      return { accountId: sub, claims: () => userClaims(sub, identity, user.name, client?.claims) };
    },
  };
}

/**
 * What the sign-in behind a token had (RFC 9068 §2.2.1: acr, amr, auth_time), from the code or
 * refresh token it was issued with, so a bearer token carries it to the gate like a session.
 */
function signInClaims(ctx: KoaContextWithOIDC): Record<string, unknown> {
  const e = ctx.oidc.entities as { AuthorizationCode?: SignInFacts; RefreshToken?: SignInFacts; DeviceCode?: SignInFacts };
  const src = e.AuthorizationCode ?? e.RefreshToken ?? e.DeviceCode;
  if (!src) return {};
  const out: Record<string, unknown> = {};
  if (typeof src.acr === 'string') out.acr = src.acr;
  if (Array.isArray(src.amr)) out.amr = src.amr;
  if (typeof src.authTime === 'number') out.auth_time = src.authTime;
  return out;
}
interface SignInFacts {
  acr?: unknown;
  amr?: unknown;
  authTime?: unknown;
}
