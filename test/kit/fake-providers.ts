// Upstream providers for the connector suites, over real HTTP on port 0:
//   - a fake GitHub answering the documented OAuth and REST endpoints it is used through;
//   - an OpenID provider (oidc-provider, the certified implementation) whose interactions sign
//     in whichever account the test chose, without a form.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OidcProvider from 'oidc-provider';

/** The part of oidc-provider this suite drives (interactions finished without a form). */
interface ProviderLike {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{ uid: string; params: Record<string, unknown> }>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    opts: { mergeWithLastSubmission: boolean },
  ): Promise<void>;
  Grant: new (init: { accountId: string; clientId: string }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
}
const Provider = OidcProvider as unknown as new (issuer: string, config: Record<string, unknown>) => ProviderLike;

export interface GithubUser {
  id: number;
  login: string;
  name: string | null;
  emails: { email: string; primary: boolean; verified: boolean }[];
  orgs: string[];
  teams: [org: string, slug: string][];
}

export interface FakeGithub {
  url: string;
  clientId: string;
  clientSecret: string;
  /** Who signs in at the next authorize; null: the user declines (error=access_denied). */
  next: GithubUser | null;
  users: Map<string, GithubUser>;
  /** Access tokens GitHub no longer accepts (authorization revoked). */
  revoke(login: string): void;
  requests: string[];
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeGithub(): Promise<FakeGithub> {
  const codes = new Map<string, { login: string; challenge: string; redirectUri: string }>();
  const tokens = new Map<string, string>();
  const requests: string[] = [];
  const fake: Omit<FakeGithub, 'url' | 'close'> & { url?: string } = {
    clientId: 'gh-client',
    clientSecret: 'gh-secret-0123456789',
    next: null,
    users: new Map(),
    requests,
    revoke(login) {
      for (const [t, l] of tokens) if (l === login) tokens.delete(t);
    },
  };
  const server = createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://x');
      requests.push(`${req.method} ${u.pathname}`);
      if (u.pathname === '/login/oauth/authorize') {
        const redirect = new URL(u.searchParams.get('redirect_uri') ?? '');
        const state = u.searchParams.get('state') ?? '';
        if (u.searchParams.get('client_id') !== fake.clientId || u.searchParams.get('code_challenge_method') !== 'S256') {
          json(res, 400, { error: 'bad request' });
          return;
        }
        if (fake.next === null) {
          redirect.search = new URLSearchParams({
            error: 'access_denied',
            error_description: 'The user has denied your application access.',
            state,
          }).toString();
        } else {
          fake.users.set(fake.next.login, fake.next);
          const code = randomBytes(10).toString('hex');
          codes.set(code, { login: fake.next.login, challenge: u.searchParams.get('code_challenge') ?? '', redirectUri: redirect.href });
          redirect.search = new URLSearchParams({ code, state }).toString();
        }
        res.writeHead(302, { location: redirect.href });
        res.end();
        return;
      }
      if (u.pathname === '/login/oauth/access_token' && req.method === 'POST') {
        const f = new URLSearchParams(await body(req));
        const c = codes.get(f.get('code') ?? '');
        codes.delete(f.get('code') ?? '');
        // GitHub answers errors with 200 and an error member.
        if (f.get('client_id') !== fake.clientId || f.get('client_secret') !== fake.clientSecret) {
          json(res, 200, { error: 'incorrect_client_credentials' });
          return;
        }
        if (!c || c.redirectUri !== f.get('redirect_uri')) {
          json(res, 200, { error: 'bad_verification_code' });
          return;
        }
        if (
          createHash('sha256')
            .update(f.get('code_verifier') ?? '')
            .digest('base64url') !== c.challenge
        ) {
          json(res, 200, { error: 'bad_verification_code' });
          return;
        }
        const token = `gho_${randomBytes(12).toString('hex')}`;
        tokens.set(token, c.login);
        json(res, 200, { access_token: token, token_type: 'bearer', scope: 'read:org,read:user,user:email' });
        return;
      }
      const login = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
      const user = login ? fake.users.get(login) : undefined;
      if (!user) {
        json(res, 401, { message: 'Bad credentials' });
        return;
      }
      switch (u.pathname) {
        case '/user':
          json(res, 200, { id: user.id, login: user.login, name: user.name });
          return;
        case '/user/emails':
          json(
            res,
            200,
            user.emails.map((e) => ({ ...e, visibility: null })),
          );
          return;
        case '/user/orgs':
          json(
            res,
            200,
            user.orgs.map((o, i) => ({ login: o, id: 1000 + i })),
          );
          return;
        case '/user/teams':
          json(
            res,
            200,
            user.teams.map(([org, slug]) => ({ slug, name: slug, organization: { login: org } })),
          );
          return;
        default:
          json(res, 404, { message: 'Not Found' });
      }
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  const url = await listen(server);
  return Object.assign(fake, {
    url,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  }) as FakeGithub;
}

export interface OidcAccount {
  sub: string;
  claims: Record<string, unknown>;
}

export interface UpstreamOidc {
  issuer: string;
  clientId: string;
  clientSecret: string;
  provider: ProviderLike;
  accounts: Map<string, OidcAccount>;
  /** Who signs in at the next interaction; null: the user declines (access_denied). */
  next: string | null;
  /** The amr (RFC 8176) the provider reports for the next sign-ins; undefined: none. */
  amr: string[] | undefined;
  close(): Promise<void>;
}

/** oidc-provider on port 0 as the upstream IdP; `path` puts the issuer under a path (Entra's /<tenant>/v2.0). */
export async function startUpstreamOidc(opts: { redirectUri: string; path?: string; scopes?: string[] }): Promise<UpstreamOidc> {
  const accounts = new Map<string, OidcAccount>();
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, r) => {
    r.writeHead(503);
    r.end();
  };
  const server = createServer((req, res) => handler(req, res));
  const origin = await listen(server);
  const issuer = `${origin}${opts.path ?? ''}`;
  const up = {
    issuer,
    clientId: 'upstream-client',
    clientSecret: 'upstream-secret-0123456789',
    accounts,
    next: null as string | null,
    amr: undefined as string[] | undefined,
  };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: up.clientId,
        client_secret: up.clientSecret,
        redirect_uris: [opts.redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
    findAccount: async (_ctx: unknown, id: string) => {
      const a = accounts.get(id);
      return a ? { accountId: id, claims: async () => ({ sub: a.sub, ...a.claims }) } : undefined;
    },
    claims: {
      openid: ['sub', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'name'],
      groups: ['groups', 'realm_access', 'hd', 'tid', 'oid', 'xms_edov', 'hasgroups', '_claim_names', '_claim_sources'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    issueRefreshToken: async () => true,
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `${opts.path ?? ''}/interaction/${interaction.uid}` },
    ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, RefreshToken: 86400, Grant: 86400, Interaction: 600, Session: 86400 },
  });
  const callback = provider.callback();
  handler = (req, res) => {
    const u = new URL(req.url ?? '/', origin);
    const m = /\/interaction\/([^/]+)$/.exec(u.pathname);
    if (!m) {
      // Mounted under the issuer's path, the way Express mounts it: originalUrl kept, url stripped.
      const prefix = opts.path ?? '';
      if (prefix && req.url?.startsWith(prefix)) {
        (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
        req.url = req.url.slice(prefix.length) || '/';
      }
      callback(req, res);
      return;
    }
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      if (up.next === null) {
        await provider.interactionFinished(
          req,
          res,
          { error: 'access_denied', error_description: 'the user declined' },
          { mergeWithLastSubmission: false },
        );
        return;
      }
      const grant = new provider.Grant({ accountId: up.next, clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope));
      const grantId = await grant.save();
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: up.next, ...(up.amr ? { amr: up.amr } : {}) }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      );
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  };
  return Object.assign(up, {
    provider,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}

/** Follow redirects with a cookie jar until `stopAt` (a URL prefix) is the next location; returns that location. */
export async function followUntil(start: string, stopAt: string, maxHops = 10): Promise<{ location: string; hops: string[] }> {
  const jar = new Map<string, string>();
  let url = start;
  const hops: string[] = [];
  for (let i = 0; i < maxHops; i++) {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    await res.arrayBuffer();
    const loc = res.headers.get('location');
    if (!loc) throw new Error(`${url} answered ${res.status} without a location`);
    const next = new URL(loc, url).href;
    hops.push(next);
    if (next.startsWith(stopAt)) return { location: next, hops };
    url = next;
  }
  throw new Error(`no redirect to ${stopAt} within ${maxHops} hops: ${hops.join(' -> ')}`);
}
