// The issuer room: the OpenID Connect provider (oidc-provider), its storage, keys and sign-in.
export { createIssuer, issuerFor, type Issuer } from './issuer.ts';
export { loadSigningKeys, rotateSigningKeys, SIGNING_ALGS } from './keys.ts';
export { agentsFor, agentSubject } from './agents.ts';
