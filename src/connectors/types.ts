// The one interface every upstream identity provider implements: an authorization URL to send
// the browser to, a callback that turns the provider's answer into an external identity, and a
// refresh that asks the provider again (group membership, still allowed?) without the browser.
import type { ConnectorConfig } from '../config/index.ts';

/** Who the provider says signed in. `groups` are upstream names, before mapping. */
export interface ExternalIdentity {
  connectorId: string;
  /** Stable and never reassigned upstream (GitHub's numeric id, OIDC `sub`, Entra `tid/oid`). */
  subject: string;
  username: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  groups: string[];
  /**
   * How the provider says this sign-in went (the ID token's amr, RFC 8176), for this sign-in
   * only: never stored with the identity. connectors[].mfa says whether it counts as a factor.
   */
  amr?: string[];
}

/** Upstream tokens, kept only sealed (in the identities table), never in a cookie or a log. */
export interface UpstreamTokens {
  accessToken: string;
  refreshToken?: string;
  /** Epoch ms when the access token expires, if the provider said. */
  expiresAt?: number;
}

export interface AuthorizationRequest {
  redirectUri: string;
  state: string;
  nonce: string;
  /** PKCE (RFC 7636) verifier; the connector sends its S256 challenge. */
  codeVerifier: string;
  /** OIDC prompt, e.g. select_account for "try another account". */
  prompt?: string;
}

export interface CallbackInput {
  redirectUri: string;
  /** The full callback URL as the browser requested it (query included). */
  currentUrl: URL;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface Authenticated {
  identity: ExternalIdentity;
  tokens: UpstreamTokens;
}

export type Refreshed = Authenticated | { gone: true; reason: string };

export interface Connector {
  readonly id: string;
  readonly type: ConnectorConfig['type'];
  readonly label: string;
  readonly config: ConnectorConfig;
  authorizationUrl(req: AuthorizationRequest): Promise<string>;
  /** Throws ConnectorError for every failure the user should hear about. */
  callback(input: CallbackInput): Promise<Authenticated>;
  /** `gone` when the provider says the grant or the user is no longer valid. Throws ConnectorError when it cannot tell (outage). */
  refresh(tokens: UpstreamTokens, previous: ExternalIdentity): Promise<Refreshed>;
}

export type ConnectorFailure =
  | 'access_denied' // the provider answered error=… (the user declined, or the provider refused)
  | 'bad_state' // state missing or not the one this browser started with
  | 'bad_issuer' // iss (RFC 9207 parameter or ID token claim) is not the configured issuer
  | 'bad_audience' // the ID token is not for our client_id
  | 'bad_nonce' // the ID token's nonce is not the one this sign-in sent (replay or injection)
  | 'refused' // the connector's allow rules (org, team, domain, tenant, …) say no
  | 'no_account' // createAccounts: invite and nothing is linked
  | 'upstream_error'; // the provider failed: token exchange, API, discovery, network

/** A failure with what the log needs (`detail`, never a token) and what the user is told (by code). */
export class ConnectorError extends Error {
  readonly failure: ConnectorFailure;
  readonly detail: string;
  /** The provider's own error code (error=…), when it gave one. */
  readonly upstreamCode: string | undefined;
  constructor(failure: ConnectorFailure, detail: string, opts: { upstreamCode?: string; cause?: unknown } = {}) {
    super(detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ConnectorError';
    this.failure = failure;
    this.detail = detail;
    this.upstreamCode = opts.upstreamCode;
  }
}

export function isConnectorError(err: unknown): err is ConnectorError {
  return err instanceof ConnectorError;
}
