// The issuer room: the OpenID Connect provider (oidc-provider), its storage, keys and sign-in.
export { createIssuer, issuerFor, type Issuer, type IssuerDeps, type IssuerHandler } from './issuer.ts';
export { loadSigningKeys, rotateSigningKeys, SIGNING_ALGS, type LoadedKeys, type SigningAlg } from './keys.ts';
export { userClaims, SCOPE_CLAIMS } from './claims.ts';
export { agentsFor, agentName, agentClientId, agentSubject, AGENT_PREFIX, AGENT_SUBJECT_PREFIX, type Agents, type AgentRecord } from './agents.ts';
