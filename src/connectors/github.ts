// GitHub (and GitHub Enterprise Server) as an OAuth app. Documented endpoints only:
//   GET  <base>/login/oauth/authorize        (with PKCE S256; GitHub accepts code_challenge)
//   POST <base>/login/oauth/access_token     (Accept: application/json; errors come as 200 + {error})
//   GET  <api>/user, /user/emails, /user/orgs, /user/teams
// The login is the preferred username, the numeric id the stable subject (logins can be renamed
// and reused), the verified primary address from /user/emails the email. Organizations become
// groups `org` and teams `org:team-slug`, lowercased (GitHub compares them case-insensitively).
import { createHash } from 'node:crypto';
import type { GithubConnectorConfig } from '../config/index.ts';
import { fetchJson, isObject, type Fetch } from './http.ts';
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

const DEFAULT_SCOPES = ['read:user', 'user:email', 'read:org'];
const MAX_PAGES = 10;

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

export class GithubConnector implements Connector {
  readonly type = 'github' as const;
  readonly id: string;
  readonly label: string;
  readonly config: GithubConnectorConfig;
  readonly #fetch: Fetch;
  readonly #base: string;
  readonly #api: string;

  constructor(config: GithubConnectorConfig, fetchImpl: Fetch = fetch) {
    this.config = config;
    this.id = config.id;
    this.label = config.name ?? 'GitHub';
    this.#fetch = fetchImpl;
    this.#base = config.baseUrl.replace(/\/+$/, '');
    this.#api = (config.apiUrl ?? (this.#base === 'https://github.com' ? 'https://api.github.com' : `${this.#base}/api/v3`)).replace(
      /\/+$/,
      '',
    );
  }

  async authorizationUrl(req: AuthorizationRequest): Promise<string> {
    const u = new URL(`${this.#base}/login/oauth/authorize`);
    u.search = new URLSearchParams({
      client_id: this.config.clientId,
      redirect_uri: req.redirectUri,
      scope: (this.config.scopes ?? DEFAULT_SCOPES).join(' '),
      state: req.state,
      code_challenge: s256(req.codeVerifier),
      code_challenge_method: 'S256',
      allow_signup: 'false',
      ...(req.prompt === 'select_account' ? { prompt: 'select_account' } : {}),
    }).toString();
    return u.href;
  }

  async callback(input: CallbackInput): Promise<Authenticated> {
    const code = input.currentUrl.searchParams.get('code');
    if (!code) throw new ConnectorError('upstream_error', 'the callback has no code parameter');
    const token = await fetchJson(
      this.#fetch,
      `${this.#base}/login/oauth/access_token`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: this.config.clientId,
          client_secret: this.config.clientSecret,
          code,
          redirect_uri: input.redirectUri,
          code_verifier: input.codeVerifier,
        }).toString(),
      },
      'github token exchange',
    );
    const body = isObject(token.body) ? token.body : {};
    if (typeof body.error === 'string') {
      throw new ConnectorError('upstream_error', `github token exchange refused: ${body.error}`, { upstreamCode: body.error });
    }
    if (token.status !== 200 || typeof body.access_token !== 'string') {
      throw new ConnectorError('upstream_error', `github token exchange answered ${token.status} without an access_token`);
    }
    const tokens: UpstreamTokens = { accessToken: body.access_token };
    if (typeof body.refresh_token === 'string') tokens.refreshToken = body.refresh_token;
    const identity = await this.#identity(tokens.accessToken);
    if (identity === 'unauthorized') throw new ConnectorError('upstream_error', 'github refused the access token it had just issued');
    return { identity, tokens };
  }

  async refresh(tokens: UpstreamTokens): Promise<Refreshed> {
    // OAuth app tokens do not expire; a revoked authorization (or a removed user) gives 401.
    const identity = await this.#identity(tokens.accessToken);
    if (identity === 'unauthorized')
      return { gone: true, reason: 'github no longer accepts the access token (authorization revoked or user removed)' };
    return { identity, tokens };
  }

  async #identity(accessToken: string): Promise<ExternalIdentity | 'unauthorized'> {
    const user = await this.#get(accessToken, '/user');
    if (user === 'unauthorized') return user;
    if (!isObject(user) || typeof user.id !== 'number' || typeof user.login !== 'string') {
      throw new ConnectorError('upstream_error', 'github /user answered without id and login');
    }
    const [emails, orgs, teams] = await Promise.all([
      this.#list(accessToken, '/user/emails'),
      this.#list(accessToken, '/user/orgs'),
      this.#list(accessToken, '/user/teams'),
    ]);
    const primary = emails.find((e) => isObject(e) && e.primary === true) as Record<string, unknown> | undefined;
    const groups = new Set<string>();
    for (const o of orgs) if (isObject(o) && typeof o.login === 'string') groups.add(o.login.toLowerCase());
    for (const t of teams) {
      if (isObject(t) && typeof t.slug === 'string' && isObject(t.organization) && typeof t.organization.login === 'string') {
        groups.add(`${t.organization.login.toLowerCase()}:${t.slug.toLowerCase()}`);
      }
    }
    return {
      connectorId: this.id,
      subject: String(user.id),
      username: user.login,
      email: primary && typeof primary.email === 'string' ? primary.email : null,
      emailVerified: primary?.verified === true,
      name: typeof user.name === 'string' && user.name !== '' ? user.name : null,
      groups: [...groups].sort(),
    };
  }

  async #get(accessToken: string, path: string): Promise<unknown> {
    const r = await fetchJson(
      this.#fetch,
      `${this.#api}${path}`,
      {
        headers: { authorization: `Bearer ${accessToken}`, 'x-github-api-version': '2022-11-28' },
      },
      `github ${path}`,
    );
    if (r.status === 401) return 'unauthorized';
    if (r.status !== 200) throw new ConnectorError('upstream_error', `github ${path} answered ${r.status}`);
    return r.body;
  }

  /** A paginated list (per_page=100, following rel="next" on the same API origin). */
  async #list(accessToken: string, path: string): Promise<unknown[]> {
    const out: unknown[] = [];
    let url: string | undefined = `${this.#api}${path}?per_page=100`;
    for (let page = 0; url && page < MAX_PAGES; page++) {
      const r: Awaited<ReturnType<typeof fetchJson>> = await fetchJson(
        this.#fetch,
        url,
        {
          headers: { authorization: `Bearer ${accessToken}`, 'x-github-api-version': '2022-11-28' },
        },
        `github ${path}`,
      );
      if (r.status !== 200 || !Array.isArray(r.body)) throw new ConnectorError('upstream_error', `github ${path} answered ${r.status}`);
      out.push(...(r.body as unknown[]));
      const next = /<([^>]+)>;\s*rel="next"/.exec(r.headers.get('link') ?? '')?.[1];
      url = next && new URL(next).origin === new URL(this.#api).origin ? next : undefined;
    }
    return out;
  }
}
