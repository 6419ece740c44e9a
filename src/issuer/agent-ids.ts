// Agent identifiers. An agent's client id is `agent.<name>`: a dot survives HTTP Basic as every
// tool sends it (`curl -u agent.builder:SECRET`), where the first form, `agent:<name>`, did not —
// Basic splits user and password at the first colon, and RFC 6749 §2.3.1's form-encoding of the
// client id (`agent%3Abuilder`) is something most tools never do. That first form is still
// accepted (form-encoded Basic, client_secret_post), for every agent, old or new. Tokens keep
// `sub: agent:<name>`: the subject is the agent, and apps' rules and logs name it that way.

/** The store model of an agent's own record (its name, groups and expiry). */
export const AGENT_MODEL = 'GatehouseAgent';
/** The client id of an agent: `agent.<name>`. */
export const AGENT_PREFIX = 'agent.';
/** The first client id form, still accepted; also every agent token's `sub` prefix. */
export const AGENT_SUBJECT_PREFIX = 'agent:';

/** The agent name of a client id (either form) or token subject, else undefined. */
export function agentName(clientIdOrSub: string): string | undefined {
  if (clientIdOrSub.startsWith(AGENT_PREFIX)) return clientIdOrSub.slice(AGENT_PREFIX.length) || undefined;
  if (clientIdOrSub.startsWith(AGENT_SUBJECT_PREFIX)) return clientIdOrSub.slice(AGENT_SUBJECT_PREFIX.length) || undefined;
  return undefined;
}

export const agentClientId = (name: string): string => `${AGENT_PREFIX}${name}`;
export const agentSubject = (name: string): string => `${AGENT_SUBJECT_PREFIX}${name}`;

/** The other spelling of an agent's client id (the record is stored under one of them), else undefined. */
export function otherAgentClientId(clientId: string): string | undefined {
  const name = agentName(clientId);
  if (name === undefined) return undefined;
  return clientId.startsWith(AGENT_PREFIX) ? agentSubject(name) : agentClientId(name);
}
