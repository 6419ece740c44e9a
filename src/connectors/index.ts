// connectors: upstream identity providers (GitHub, OpenID Connect, Microsoft Entra ID) behind one
// interface, and the federation around them (admission, account linking, refresh).
export {
  ConnectorError, isConnectorError,
  type Connector, type ConnectorFailure, type ExternalIdentity, type UpstreamTokens, type AuthorizationRequest, type CallbackInput, type Authenticated, type Refreshed,
} from './types.ts';
export { Federation, buildConnector, type FederationOptions, type SignInResult } from './federation.ts';
export { GithubConnector } from './github.ts';
export { OidcConnector, GenericOidcConnector } from './oidc.ts';
export { EntraConnector } from './entra.ts';
export { mapGroups, refusal } from './admission.ts';
export { claimAt, claimString, claimStrings, claimTrue } from './claims.ts';
