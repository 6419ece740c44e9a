// connectors: upstream identity providers (GitHub, OpenID Connect, Microsoft Entra ID) behind one
// interface, and who each admits (allow rules, group mapping). They hand back an external
// identity; linking it to an account is the accounts module's job.
export {
  ConnectorError, isConnectorError,
  type Connector, type ConnectorFailure, type ExternalIdentity, type UpstreamTokens, type AuthorizationRequest, type CallbackInput, type Authenticated, type Refreshed,
} from './types.ts';
export { Connectors, buildConnector, type Admitted, type CallbackResult, type RefreshResult } from './registry.ts';
export { GithubConnector } from './github.ts';
export { OidcConnector, GenericOidcConnector } from './oidc.ts';
export { EntraConnector } from './entra.ts';
export { mapGroups, refusal } from './admission.ts';
export { claimAt, claimString, claimStrings, claimTrue } from './claims.ts';
