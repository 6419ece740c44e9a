// connectors: upstream identity providers (GitHub, OpenID Connect, Microsoft Entra ID) behind one
// interface, and who each admits (allow rules, group mapping). They hand back an external
// identity; linking it to an account is the accounts module's job.
export { ConnectorError, type Connector, type ExternalIdentity, type UpstreamTokens, type CallbackInput } from './types.ts';
export { Connectors, type Admitted, type CallbackResult } from './registry.ts';
