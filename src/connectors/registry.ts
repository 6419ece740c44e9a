// The configured connectors and the two questions asked of a provider: who signed in (the
// callback), and whether they still may (a refresh). Both answer with an admitted external
// identity and its mapped groups, or a failure; nothing here knows about Gatehouse accounts
// (linking an identity to an account, and keeping its groups, is the accounts module's job).
import type { ConnectorConfig } from '../config/index.ts';
import { mapGroups, refusal } from './admission.ts';
import { EntraConnector } from './entra.ts';
import { GithubConnector } from './github.ts';
import type { Fetch } from './http.ts';
import { GenericOidcConnector } from './oidc.ts';
import {
  ConnectorError,
  type AuthorizationRequest,
  type CallbackInput,
  type Connector,
  type ExternalIdentity,
  type UpstreamTokens,
} from './types.ts';

/** An identity the connector's allow rules admit, with its groups already mapped. */
export interface Admitted {
  connector: Connector;
  identity: ExternalIdentity;
  tokens: UpstreamTokens;
  groups: string[];
}

export type CallbackResult = ({ ok: true } & Admitted) | { ok: false; error: ConnectorError; identity?: ExternalIdentity };

/**
 * `gone`: why access ended (for the log), said by the provider (`by: 'provider'`: the grant or
 * the user is no longer valid) or by the connector's allow rules. A refresh throws
 * ConnectorError when upstream cannot tell (an outage).
 */
export type RefreshResult = ({ ok: true } & Admitted) | { ok: false; gone: string; by: 'provider' | 'rules' };

export function buildConnector(cfg: ConnectorConfig, fetchImpl?: Fetch): Connector {
  switch (cfg.type) {
    case 'github':
      return new GithubConnector(cfg, fetchImpl);
    case 'oidc':
      return new GenericOidcConnector(cfg, fetchImpl);
    case 'entra':
      return new EntraConnector(cfg, fetchImpl);
  }
}

export class Connectors {
  readonly #config: () => readonly ConnectorConfig[];
  readonly #fetch: Fetch | undefined;
  #source: readonly ConnectorConfig[] | undefined;
  #byId = new Map<string, Connector>();

  /** `fetch`: for tests and proxies; default global fetch. */
  constructor(opts: { connectors: () => readonly ConnectorConfig[]; fetch?: Fetch }) {
    this.#config = opts.connectors;
    this.#fetch = opts.fetch;
  }

  /** The connectors of the current config; rebuilt (discovery redone) when the config changes. */
  #current(): Map<string, Connector> {
    const list = this.#config();
    if (list !== this.#source) {
      const next = new Map<string, Connector>();
      for (const c of list) {
        const old = this.#byId.get(c.id);
        next.set(c.id, old && JSON.stringify(old.config) === JSON.stringify(c) ? old : buildConnector(c, this.#fetch));
      }
      this.#byId = next;
      this.#source = list;
    }
    return this.#byId;
  }

  list(): { id: string; label: string }[] {
    return [...this.#current().values()].map((c) => ({ id: c.id, label: c.label }));
  }

  get(id: string): Connector | undefined {
    return this.#current().get(id);
  }

  async authorizationUrl(id: string, req: AuthorizationRequest): Promise<string> {
    const c = this.get(id);
    if (!c) throw new ConnectorError('upstream_error', `no connector "${id}" is configured`);
    return c.authorizationUrl(req);
  }

  /** The callback: the provider's answer -> an identity its allow rules admit, with mapped groups. */
  async callback(id: string, input: CallbackInput): Promise<CallbackResult> {
    const c = this.get(id);
    if (!c) return { ok: false, error: new ConnectorError('upstream_error', `no connector "${id}" is configured any more`) };
    // RFC 6749 §4.1.2.1: the provider reports refusals (the user declined, …) as error=….
    const error = input.currentUrl.searchParams.get('error');
    if (error !== null) {
      return {
        ok: false,
        error: new ConnectorError('access_denied', `the provider answered error=${error.slice(0, 64)}`, {
          upstreamCode: error.slice(0, 64),
        }),
      };
    }
    let identity: ExternalIdentity;
    let tokens: UpstreamTokens;
    try {
      ({ identity, tokens } = await c.callback(input));
    } catch (err) {
      if (err instanceof ConnectorError) return { ok: false, error: err };
      throw err;
    }
    const why = refusal(c.config, identity);
    if (why) return { ok: false, error: new ConnectorError('refused', why), identity };
    return { ok: true, connector: c, identity, tokens, groups: mapGroups(c.config.groups, identity.groups) };
  }

  /** Ask the provider again without the browser (group membership, still allowed?). */
  async refresh(c: Connector, tokens: UpstreamTokens, previous: ExternalIdentity): Promise<RefreshResult> {
    const result = await c.refresh(tokens, previous);
    if ('gone' in result) return { ok: false, gone: result.reason, by: 'provider' };
    const why = refusal(c.config, result.identity);
    if (why) return { ok: false, gone: why, by: 'rules' };
    return {
      ok: true,
      connector: c,
      identity: result.identity,
      tokens: result.tokens,
      groups: mapGroups(c.config.groups, result.identity.groups),
    };
  }
}
