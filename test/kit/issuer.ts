// The issuer suites: a config with OIDC clients, a fetch for openid-client that reaches the
// in-process instance as https://auth.example.test, and a PortalClient (the kit's cookie jar
// following the portal's and the provider's redirects until they leave for the client).
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { CookieJar, jarRequest, send } from './http.ts';
import { baseConfig, PASSWORD, PORTAL, type Answer, type Instance } from './server.ts';
import { submitSignIn, type Portal } from './sign-in.ts';

export const ISSUER = PORTAL;
export const GRAFANA_SECRET = 'grafana-secret-0123456789abcdef';
export const GRAFANA_CB = 'https://grafana.example.test/login/generic_oauth';
export const CLI_CB = 'http://127.0.0.1:8000/callback';
export const THIRD_CB = 'https://third.example.org/cb';
export const THIRD_SECRET = 'third-party-secret-0123456789';

export function issuerConfig(dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return baseConfig(dir, {
    clients: [
      {
        id: 'grafana',
        secret: GRAFANA_SECRET,
        redirectUris: [GRAFANA_CB],
        postLogoutRedirectUris: ['https://grafana.example.test/'],
        firstParty: true,
      },
      { id: 'cli', public: true, redirectUris: [CLI_CB], firstParty: true },
      { id: 'third', name: 'Third App', secret: THIRD_SECRET, redirectUris: [THIRD_CB], tokenEndpointAuthMethod: 'client_secret_post' },
      {
        id: 'ops-only',
        secret: 'ops-only-secret-0123456789',
        redirectUris: ['https://ops.example.test/cb'],
        firstParty: true,
        allowedGroups: ['ops'],
      },
      {
        id: 'slim',
        secret: 'slim-secret-0123456789abcd',
        redirectUris: ['https://slim.example.test/cb'],
        firstParty: true,
        claims: ['groups'],
      },
    ],
    ...extra,
  });
}

export const HTTPS = { host: 'auth.example.test', 'x-forwarded-proto': 'https' };

/** openid-client's fetch: requests for the issuer go to the instance over a real socket. */
export function fetchVia(inst: Instance): oidc.CustomFetch {
  return async (url, options) => {
    const u = new URL(url);
    if (u.origin !== ISSUER) throw new Error(`unexpected fetch to ${u.origin}`);
    const headers: Record<string, string> = { ...HTTPS };
    new Headers(options.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => {
      headers[k] = v;
    });
    const body = options.body === undefined || options.body === null ? undefined : String(options.body);
    const a = await send(inst.port, {
      method: options.method,
      path: u.pathname + u.search,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const h = new Headers();
    for (const [k, v] of Object.entries(a.headers)) if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
    return new Response(a.status === 204 || a.status === 304 ? null : a.body, { status: a.status, headers: h });
  };
}

/**
 * openid-client's fetch for a protected resource or an app behind the gate: the client's request
 * (its Authorization and DPoP headers as the library made them) reaches the gate as Traefik's or
 * Caddy's forward-auth subrequest for that URL, from a trusted proxy; the gate's answer is the
 * client's answer (202: let through).
 */
export function gateFetch(inst: Instance): oidc.CustomFetch {
  return async (url, options) => {
    const u = new URL(url);
    const headers: Record<string, string> = {
      host: 'gatehouse.internal:4180',
      'x-forwarded-method': options.method ?? 'GET',
      'x-forwarded-proto': u.protocol.slice(0, -1),
      'x-forwarded-host': u.host,
      'x-forwarded-uri': u.pathname + u.search,
    };
    new Headers(options.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => {
      headers[k] = v;
    });
    const a = await send(inst.port, { method: 'GET', path: '/oauth2/auth', headers });
    const h = new Headers();
    for (const [k, v] of Object.entries(a.headers)) if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
    return new Response(a.status === 204 || a.status === 304 || a.body === '' ? null : a.body, { status: a.status, headers: h });
  };
}

export async function discover(inst: Instance, clientId: string, secret?: string): Promise<oidc.Configuration> {
  return oidc.discovery(
    new URL(ISSUER),
    clientId,
    secret === undefined ? { token_endpoint_auth_method: 'none' } : secret,
    secret === undefined ? oidc.None() : undefined,
    { [oidc.customFetch]: fetchVia(inst) },
  );
}

/**
 * The issuer suites' HTTP client: a cookie jar that follows the portal's and the provider's
 * redirects on the portal host until they leave for the client, and remembers the last form's
 * csrf field. Not a browser: flows a person clicks through are tested in Chromium.
 */
export class PortalClient {
  readonly jar = new CookieJar();
  readonly inst: Instance;
  /** The portal on the instance's port, read at every request (a test may rotate it between replicas). */
  readonly portal: Portal;
  constructor(inst: Instance) {
    this.inst = inst;
    this.portal = {
      base: ISSUER,
      connectTo: {
        host: '127.0.0.1',
        get port() {
          return inst.port;
        },
      },
      headers: { connection: 'close', 'x-forwarded-proto': 'https' },
      formPath: '/oauth2/start',
      cookieName: () => inst.running.settings().cookieName,
    };
  }

  /** The csrf field of the last page with a form (the form guard's token). */
  lastCsrf: string | undefined;

  /** A form body as the last page's form would post it: its csrf token plus these fields. */
  form(fields: Record<string, string>): string {
    return new URLSearchParams({ ...(this.lastCsrf === undefined ? {} : { csrf: this.lastCsrf }), ...fields }).toString();
  }

  private seen(a: Answer): void {
    const csrf = /name="csrf" value="([^"]*)"/.exec(a.body)?.[1];
    if (csrf !== undefined) this.lastCsrf = csrf;
  }

  async request(url: string, opts: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const u = new URL(url, ISSUER);
    if (u.origin !== ISSUER) throw new Error(`the client only visits ${ISSUER}, not ${u.origin}`);
    const a = await jarRequest(this.jar, u.href, {
      method: opts.method ?? 'GET',
      headers: {
        ...this.portal.headers,
        accept: 'text/html',
        ...(opts.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...opts.headers,
      },
      ...(this.portal.connectTo ? { connectTo: this.portal.connectTo } : {}),
      ...(opts.body === undefined ? {} : { body: opts.body }),
    });
    this.seen(a);
    return a;
  }

  /** Follows redirects on the portal; returns the last answer and where it points (if anywhere). */
  async go(url: string, max = 12): Promise<{ answer: Answer; location: string | undefined; visited: string[] }> {
    const visited: string[] = [];
    let next: string | undefined = new URL(url, ISSUER).href;
    let answer: Answer | undefined;
    while (next && new URL(next).origin === ISSUER && visited.length < max) {
      visited.push(next);
      answer = await this.request(next);
      next = answer.headers.location ? new URL(answer.headers.location, next).href : undefined;
    }
    if (!answer) throw new Error('no request made');
    return { answer, location: next, visited };
  }

  /** Sign in at the portal form the client was sent to (rd = where it came from). */
  async signIn(rd: string, username: string, password = PASSWORD): Promise<Answer> {
    const { res, form } = await submitSignIn(this.portal, username, password, rd, { jar: this.jar });
    this.seen(form);
    this.seen(res);
    return res;
  }
}

/** Code + PKCE through the real portal: the redirect_uri the browser ends at. */
export async function authorize(
  b: PortalClient,
  config: oidc.Configuration,
  params: Record<string, string>,
  username = 'alice',
): Promise<{ callback: URL; verifier: string; state: string }> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    scope: 'openid profile email groups',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...params,
  });
  let r = await b.go(url.href);
  if (
    r.location?.startsWith(`${ISSUER}/oauth2/start`) ||
    (r.answer.status === 200 && r.visited.at(-1)?.startsWith(`${ISSUER}/oauth2/start`))
  ) {
    const rd = new URL(r.visited.at(-1) ?? '').searchParams.get('rd') ?? '';
    const signed = await b.signIn(rd, username);
    if (signed.status !== 303) throw new Error(`sign-in answered ${signed.status}`);
    r = await b.go(signed.headers.location ?? '');
  }
  if (!r.location) throw new Error(`authorization ended at ${r.visited.at(-1)} with ${r.answer.status}: ${r.answer.body.slice(0, 300)}`);
  return { callback: new URL(r.location), verifier, state };
}

export const dataPath = (inst: Instance, ...p: string[]) => join(inst.dir, ...p);
