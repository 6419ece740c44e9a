// The MCP authorization-server suites: an instance with protected resources, raw
// requests to /oidc/reg and /oidc/token as an MCP client sends them, and the authorization step
// through the real portal (sign-in, consent) with PKCE S256 and `resource`.
import { createHash, randomBytes } from 'node:crypto';
import { send } from './http.ts';
import { HTTPS, ISSUER, issuerConfig, PortalClient } from './issuer.ts';
import { ALICE, BOB, startInstance, type Answer, type Instance } from './server.ts';

export const MCP = 'https://mcp.example.test/mcp';
export const OTHER = 'https://other.example.test/api';
export const LOOPBACK_CB = 'http://127.0.0.1:33418/callback';

export function mcpConfig(dir: string, issuer: Record<string, unknown> = {}): Record<string, unknown> {
  return issuerConfig(dir, {
    resources: [
      { resource: MCP, name: 'tools', scopes: ['mcp:tools', 'mcp:admin'] },
      { resource: OTHER, scopes: ['api'] },
    ],
    // Suites register many clients from one address: the per-address limit has its own tests.
    issuer: { defaultResource: MCP, registrationLimits: { perAddress: 10_000 }, ...issuer },
  });
}

export function startMcpIssuer(issuer: Record<string, unknown> = {}): Promise<Instance> {
  return startInstance({ unwatched: true, config: (dir) => mcpConfig(dir, issuer), users: [ALICE, BOB] });
}

export const json = (a: Answer): Record<string, unknown> => JSON.parse(a.body) as Record<string, unknown>;

export function register(inst: Instance, metadata: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  return send(inst.port, {
    method: 'POST',
    path: '/oidc/reg',
    headers: { ...HTTPS, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(metadata),
  });
}

export function token(inst: Instance, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
  return send(inst.port, {
    method: 'POST',
    path: '/oidc/token',
    headers: { ...HTTPS, 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/**
 * /oidc/auth with these params, signing in as `username` and allowing consent when asked.
 * Returns where the browser was finally sent (the client's redirect) and every page seen.
 */
export async function authorizeVia(
  b: PortalClient,
  params: Record<string, string>,
  username = 'alice',
): Promise<{ location: URL; consentPage: string | undefined }> {
  let r = await b.go(`/oidc/auth?${new URLSearchParams(params).toString()}`);
  const last = r.visited.at(-1) ?? '';
  if (last.startsWith(`${ISSUER}/oauth2/start`)) {
    const rd = new URL(last).searchParams.get('rd') ?? '';
    const signed = await b.signIn(rd, username);
    if (signed.status !== 303) throw new Error(`sign-in answered ${signed.status}`);
    r = await b.go(signed.headers.location ?? '');
  }
  let consentPage: string | undefined;
  if (!r.location && r.answer.status === 200 && /<h1>Allow /.test(r.answer.body)) {
    consentPage = r.answer.body;
    const allowed = await b.request(r.visited.at(-1) ?? '', {
      method: 'POST',
      body: b.form({ decision: 'allow' }),
      headers: { origin: ISSUER },
    });
    r = await b.go(allowed.headers.location ?? '');
  }
  if (!r.location) throw new Error(`authorization ended at ${r.visited.at(-1)} with ${r.answer.status}: ${r.answer.body.slice(0, 300)}`);
  return { location: new URL(r.location), consentPage };
}

export interface PublicClient {
  clientId: string;
  redirectUri: string;
}

/** A code for a public client: PKCE S256, `resource`, state. */
export async function codeFor(
  b: PortalClient,
  c: PublicClient,
  opts: { scope?: string; resource?: string; username?: string } = {},
): Promise<{ code: string; verifier: string; location: URL }> {
  const { verifier, challenge } = pkce();
  const params: Record<string, string> = {
    client_id: c.clientId,
    redirect_uri: c.redirectUri,
    response_type: 'code',
    scope: opts.scope ?? 'mcp:tools offline_access',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st-1',
    prompt: 'consent',
  };
  if (opts.resource !== '') params.resource = opts.resource ?? MCP;
  const { location } = await authorizeVia(b, params, opts.username);
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code: ${location.href}`);
  return { code, verifier, location };
}

export { HTTPS, ISSUER, PortalClient };
