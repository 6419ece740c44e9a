// Any OpenID Connect provider, through openid-client (a certified relying party): discovery at
// the exact issuer URL (openid-client requires the document's `issuer` to equal it and follows no
// redirects), authorization code with PKCE S256, a nonce bound to this browser's sign-in, the
// RFC 9207 `iss` parameter checked when the provider supports it. Claims are mapped by config,
// nested paths included; an email counts as verified only when `email_verified` says so.
import * as oidc from 'openid-client';
import type { EntraConnectorConfig, OidcConnectorConfig } from '../config/index.ts';
import { claimString, claimStrings, claimTrue } from './claims.ts';
import type { Fetch } from './http.ts';
import {
  ConnectorError,
  type Authenticated,
  type AuthorizationRequest,
  type CallbackInput,
  type Connector,
  type ExternalIdentity,
  type Refreshed,
  type UpstreamTokens,
} from './types.ts';

const DEFAULT_SCOPES = ['openid', 'profile', 'email'];
const TIMEOUT_SECONDS = 10;

export interface ClaimMap {
  username: string;
  email: string;
  emailVerified: string;
  name: string;
  groups: string[] | string;
}

/** Plain http only for a loopback issuer (development and tests); anything else must be https. */
function isLoopback(u: URL): boolean {
  return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]');
}

/** Map openid-client's errors onto the failures the portal explains. */
export function classify(err: unknown, what: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  if (err instanceof oidc.AuthorizationResponseError) {
    return new ConnectorError('access_denied', `the provider answered error=${err.error}`, { upstreamCode: err.error, cause: err });
  }
  if (err instanceof oidc.ResponseBodyError) {
    return new ConnectorError('upstream_error', `${what}: the provider answered error=${err.error}`, {
      upstreamCode: err.error,
      cause: err,
    });
  }
  // Walk the cause chain for the claim or parameter that failed a comparison.
  const messages: string[] = [];
  let claim: unknown;
  for (let e: unknown = err, i = 0; e instanceof Error && i < 5; e = e.cause, i++) {
    messages.push(e.message);
    const c = (e as { cause?: unknown }).cause;
    if (c && typeof c === 'object' && 'claim' in c) claim ??= (c as { claim: unknown }).claim;
  }
  const text = messages.join(': ');
  if (claim === 'nonce' || /"nonce"/.test(text))
    return new ConnectorError('bad_nonce', `${what}: the ID token's nonce is not this sign-in's`, { cause: err });
  if (claim === 'aud' || /"aud"|azp/.test(text))
    return new ConnectorError('bad_audience', `${what}: the ID token is not for this client`, { cause: err });
  if (claim === 'iss' || /"iss"|issuer/.test(text)) return new ConnectorError('bad_issuer', `${what}: ${text}`, { cause: err });
  if (/"state"/.test(text)) return new ConnectorError('bad_state', `${what}: ${text}`, { cause: err });
  return new ConnectorError('upstream_error', `${what}: ${text}`, { cause: err });
}

export class OidcConnector implements Connector {
  readonly type: 'oidc' | 'entra';
  readonly id: string;
  readonly label: string;
  readonly config: OidcConnectorConfig | EntraConnectorConfig;
  readonly #issuer: URL;
  readonly #claims: ClaimMap;
  readonly #userinfo: boolean;
  readonly #fetch: Fetch | undefined;
  readonly #scopes: string[];
  #discovered: Promise<oidc.Configuration> | undefined;

  constructor(
    config: OidcConnectorConfig | EntraConnectorConfig,
    opts: { issuer: string; claims: ClaimMap; userinfo: boolean; scopes: string[]; label: string; fetch?: Fetch },
  ) {
    this.config = config;
    this.type = config.type;
    this.id = config.id;
    this.label = opts.label;
    this.#issuer = new URL(opts.issuer);
    this.#claims = opts.claims;
    this.#userinfo = opts.userinfo;
    this.#fetch = opts.fetch;
    this.#scopes = config.scopes ?? opts.scopes;
  }

  /** Discovery once, lazily (an upstream outage at start-up must not stop Gatehouse); retried after a failure. */
  protected discovered(): Promise<oidc.Configuration> {
    this.#discovered ??= oidc
      .discovery(this.#issuer, this.config.clientId, this.config.clientSecret, undefined, {
        timeout: TIMEOUT_SECONDS,
        ...(isLoopback(this.#issuer) ? { execute: [oidc.allowInsecureRequests] } : {}),
        ...(this.#fetch ? { [oidc.customFetch]: this.#fetch } : {}),
      })
      .catch((err: unknown) => {
        this.#discovered = undefined;
        throw classify(err, `discovery at ${this.#issuer.href}`);
      });
    return this.#discovered;
  }

  protected extraAuthorizationParams(): Record<string, string> {
    return {};
  }

  async authorizationUrl(req: AuthorizationRequest): Promise<string> {
    const config = await this.discovered();
    return oidc.buildAuthorizationUrl(config, {
      redirect_uri: req.redirectUri,
      scope: this.#scopes.join(' '),
      state: req.state,
      nonce: req.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(req.codeVerifier),
      code_challenge_method: 'S256',
      ...this.extraAuthorizationParams(),
      ...(req.prompt ? { prompt: req.prompt } : {}),
    }).href;
  }

  async callback(input: CallbackInput): Promise<Authenticated> {
    const config = await this.discovered();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, input.currentUrl, {
        pkceCodeVerifier: input.codeVerifier,
        expectedState: input.state,
        expectedNonce: input.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw classify(err, 'token exchange');
    }
    const claims = tokens.claims() as Record<string, unknown> | undefined;
    if (!claims) throw new ConnectorError('upstream_error', 'the token response has no ID token');
    const merged = await this.#withUserinfo(config, tokens.access_token, claims);
    const identity = await this.identityFrom(merged, tokens.access_token);
    // RFC 8176 values from the ID token itself (never from userinfo); at most 16 short ones.
    const amr = Array.isArray(claims.amr)
      ? claims.amr.filter((m): m is string => typeof m === 'string' && /^[A-Za-z0-9_-]{1,32}$/.test(m)).slice(0, 16)
      : [];
    return { identity: amr.length > 0 ? { ...identity, amr } : identity, tokens: toTokens(tokens) };
  }

  async refresh(tokens: UpstreamTokens, previous: ExternalIdentity): Promise<Refreshed> {
    // Without a refresh token there is nothing to ask again; the identity stands until the next sign-in.
    if (!tokens.refreshToken) return { identity: previous, tokens };
    const config = await this.discovered();
    let fresh: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
    try {
      fresh = await oidc.refreshTokenGrant(config, tokens.refreshToken);
    } catch (err) {
      const c = classify(err, 'refresh');
      // RFC 6749 §5.2: invalid_grant means the grant is gone (revoked, user disabled or removed).
      if (c.upstreamCode === 'invalid_grant') return { gone: true, reason: 'the provider refused the refresh token (invalid_grant)' };
      throw c;
    }
    const next: UpstreamTokens = { ...toTokens(fresh), refreshToken: fresh.refresh_token ?? tokens.refreshToken };
    let claims = fresh.claims() as Record<string, unknown> | undefined;
    if (claims && claims.sub !== undefined && this.subjectOf(claims, previous) !== previous.subject) {
      return { gone: true, reason: 'the refreshed ID token names another subject' };
    }
    claims = await this.#withUserinfo(config, fresh.access_token, claims ?? {}, previous);
    if (Object.keys(claims).length === 0) return { identity: previous, tokens: next };
    return { identity: await this.identityFrom({ sub: previous.subject, ...claims }, fresh.access_token), tokens: next };
  }

  /** The subject as stored: `sub` here; Entra overrides (tid/oid). */
  protected subjectOf(claims: Record<string, unknown>, _previous?: ExternalIdentity): string {
    return String(claims.sub);
  }

  /** Provider-specific checks and group lookups happen here (Google hd, Entra tid and group overage). */
  protected async identityFrom(claims: Record<string, unknown>, _accessToken: string): Promise<ExternalIdentity> {
    const email = claimString(claims, this.#claims.email);
    const groupPaths = Array.isArray(this.#claims.groups) ? this.#claims.groups : [this.#claims.groups];
    return {
      connectorId: this.id,
      subject: this.subjectOf(claims),
      username: claimString(claims, this.#claims.username) ?? email ?? String(claims.sub),
      email,
      emailVerified: email !== null && claimTrue(claims, this.#claims.emailVerified),
      name: claimString(claims, this.#claims.name),
      groups: [...new Set(groupPaths.flatMap((p) => claimStrings(claims, p)))],
    };
  }

  async #withUserinfo(
    config: oidc.Configuration,
    accessToken: string,
    claims: Record<string, unknown>,
    previous?: ExternalIdentity,
  ): Promise<Record<string, unknown>> {
    if (!this.#userinfo) return claims;
    const sub = claims.sub !== undefined ? String(claims.sub) : previous?.subject;
    if (sub === undefined) return claims;
    try {
      const info = (await oidc.fetchUserInfo(config, accessToken, sub)) as Record<string, unknown>;
      return { ...claims, ...info };
    } catch (err) {
      throw classify(err, 'userinfo');
    }
  }
}

function toTokens(t: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): UpstreamTokens {
  const out: UpstreamTokens = { accessToken: t.access_token };
  if (t.refresh_token) out.refreshToken = t.refresh_token;
  const exp = t.expiresIn();
  if (exp !== undefined) out.expiresAt = Date.now() + exp * 1000;
  return out;
}

/** The generic connector, with Google's hosted-domain restriction on top. */
export class GenericOidcConnector extends OidcConnector {
  readonly #cfg: OidcConnectorConfig;
  constructor(config: OidcConnectorConfig, fetchImpl?: Fetch) {
    super(config, {
      issuer: config.issuer,
      claims: config.claims,
      userinfo: config.userinfo,
      scopes: DEFAULT_SCOPES,
      label: config.name ?? config.id,
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
    this.#cfg = config;
  }

  protected override extraAuthorizationParams(): Record<string, string> {
    // Google shows only accounts of this domain when `hd` is one domain; the claim is still checked.
    const hd = this.#cfg.allow.hostedDomains;
    return hd && hd.length === 1 && hd[0] ? { hd: hd[0] } : {};
  }

  protected override async identityFrom(claims: Record<string, unknown>, accessToken: string): Promise<ExternalIdentity> {
    const hd = this.#cfg.allow.hostedDomains;
    if (hd) {
      const got = typeof claims.hd === 'string' ? claims.hd.toLowerCase() : null;
      if (got === null || !hd.some((d) => d.toLowerCase() === got)) {
        throw new ConnectorError('refused', `hosted domain ${got ?? '(none)'} is not in connectors[${this.id}].allow.hostedDomains`);
      }
    }
    return super.identityFrom(claims, accessToken);
  }
}
