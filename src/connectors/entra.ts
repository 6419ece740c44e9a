// Microsoft Entra ID (v2.0 endpoints) on the OpenID Connect connector. What differs:
//   - the subject is tid/oid (oid is the user's object id in the tenant, the same for every app;
//     `sub` is pairwise per app), and tenants are restricted by the issuer and the tid claim;
//   - `email` is not verified by Entra unless the optional claim xms_edov says so;
//   - groups come in the `groups` claim, unless the user has too many for a token ("group
//     overage"): then the token carries `_claim_names.groups` (or `hasgroups: true`) instead,
//     and the list is read from Microsoft Graph with the access token (getMemberObjects).
import type { EntraConnectorConfig } from '../config/index.ts';
import { fetchJson, isObject, type Fetch } from './http.ts';
import { OidcConnector } from './oidc.ts';
import { ConnectorError, type ExternalIdentity } from './types.ts';

const DEFAULT_SCOPES = ['openid', 'profile', 'email', 'offline_access'];
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class EntraConnector extends OidcConnector {
  readonly #cfg: EntraConnectorConfig;
  readonly #fetchImpl: Fetch;

  constructor(config: EntraConnectorConfig, fetchImpl: Fetch = fetch) {
    super(config, {
      issuer: `${config.authority.replace(/\/+$/, '')}/${config.tenant}/v2.0`,
      claims: { username: 'preferred_username', email: 'email', emailVerified: 'xms_edov', name: 'name', groups: 'groups' },
      userinfo: false,
      scopes: DEFAULT_SCOPES,
      label: config.name ?? 'Microsoft',
      fetch: fetchImpl,
    });
    this.#cfg = config;
    this.#fetchImpl = fetchImpl;
  }

  protected override subjectOf(claims: Record<string, unknown>, previous?: ExternalIdentity): string {
    if (typeof claims.tid === 'string' && typeof claims.oid === 'string') return `${claims.tid}/${claims.oid}`;
    return previous?.subject ?? String(claims.sub);
  }

  protected override async identityFrom(claims: Record<string, unknown>, accessToken: string): Promise<ExternalIdentity> {
    const tid = typeof claims.tid === 'string' ? claims.tid.toLowerCase() : null;
    if (GUID.test(this.#cfg.tenant) && tid !== this.#cfg.tenant.toLowerCase()) {
      throw new ConnectorError('refused', `tenant ${tid ?? '(none)'} is not connectors[${this.id}].tenant`);
    }
    const tenants = this.#cfg.allow.tenants;
    if (tenants && (tid === null || !tenants.some((t) => t.toLowerCase() === tid))) {
      throw new ConnectorError('refused', `tenant ${tid ?? '(none)'} is not in connectors[${this.id}].allow.tenants`);
    }
    const identity = await super.identityFrom(claims, accessToken);
    const names = isObject(claims._claim_names) ? claims._claim_names : {};
    if (Object.hasOwn(names, 'groups') || claims.hasgroups === true || claims.hasgroups === 'true') {
      identity.groups = await this.#graphGroups(accessToken);
    }
    return identity;
  }

  /** Group overage: every group (object id) the user is a member of, transitively, from Graph. */
  async #graphGroups(accessToken: string): Promise<string[]> {
    const url = `${this.#cfg.graphUrl.replace(/\/+$/, '')}/v1.0/me/getMemberObjects`;
    const r = await fetchJson(
      this.#fetchImpl,
      url,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ securityEnabledOnly: false }),
      },
      'microsoft graph getMemberObjects',
    );
    if (r.status === 401 || r.status === 403) {
      throw new ConnectorError(
        'upstream_error',
        `microsoft graph refused to list groups (${r.status}) on group overage: grant GroupMember.Read.All and add it to connectors[${this.id}].scopes`,
      );
    }
    const value = isObject(r.body) ? r.body.value : undefined;
    if (r.status !== 200 || !Array.isArray(value))
      throw new ConnectorError('upstream_error', `microsoft graph getMemberObjects answered ${r.status}`);
    return value.filter((v): v is string => typeof v === 'string');
  }
}
