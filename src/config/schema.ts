// The one config schema. It gives the types, the errors with paths, and the JSON Schema
// (`docs/config.schema.json`) and reference (`docs/config-reference.md`) generated from it.
// Every object is strict: an unknown key is an error, never silently inert.
import { z } from 'zod';
import { CLIENT_CLAIMS } from './claims.ts';
import { parseDuration } from '../core/index.ts';

/** A duration such as "90s", "15m", "8h", "7d"; parsed to milliseconds. */
const duration = (def: string, what: string) =>
  z
    .string()
    .refine((s) => parseDuration(s) !== undefined, { message: 'expected a duration such as 90s, 15m, 8h or 7d' })
    .default(def)
    .transform((s) => parseDuration(s) ?? 0)
    .describe(`${what} (a duration: ms, s, m, h, d, w; default ${def})`);

const cidr = z
  .string()
  .regex(
    /^(?:(?:\d{1,3}\.){3}\d{1,3}(?:\/\d{1,2})?|[0-9a-fA-F:]+(?:\/\d{1,3})?)$/,
    'expected an IP address or CIDR such as 10.0.0.0/8 or ::1/128',
  );

const trustedProxy = z.union([
  cidr,
  z.strictObject({
    cidr: cidr.describe("the proxy's address or CIDR range"),
    kind: z
      .enum(['nginx', 'forwarded', 'auto'])
      .describe(
        'which headers this proxy sets itself: nginx (X-Original-URL/-Method), forwarded (X-Forwarded-Method/-Proto/-Host/-Uri), or auto',
      ),
  }),
]);

const hostPattern = z
  .string()
  .regex(
    /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?::\d{1,5})?$/,
    'expected a lowercase host name, optionally starting with "*." (for example grafana.example.org or *.example.org)',
  )
  .describe('host name; "*.example.org" matches any subdomain on a label boundary, never example.org itself');

const pathPattern = z
  .string()
  .regex(/^\/[^?#\s]*$/, 'expected a path starting with "/" and without query, fragment or whitespace')
  .describe(
    'path, matched on every way a backend may read the request path (the strictest decides): "/api/" is a prefix, "/adsb/*" matches one segment, "/static/**" any depth',
  );

const headerName = z.string().regex(/^[A-Za-z0-9-]+$/, 'expected an HTTP header name (letters, digits, "-")');

const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.hash === '' && u.search === '';
  } catch {
    return false;
  }
}, 'expected an absolute http(s) URL without query or fragment');

export const subjectSchema = z
  .strictObject({
    users: z.array(z.string().min(1)).optional().describe('usernames'),
    groups: z.array(z.string().min(1)).optional().describe('group names (local, or mapped from an upstream provider)'),
    emails: z
      .array(z.string().regex(/^[^@\s]+@[^@\s]+$/, 'expected an email address with exactly one "@"'))
      .optional()
      .describe('exact email addresses (compared case-insensitively)'),
    emailDomains: z
      .array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, 'expected a domain such as example.org, without "@"'))
      .optional()
      .describe('email domains; the address must have exactly one "@" and this exact domain after it'),
    anyUser: z.literal(true).optional().describe('any signed-in user'),
  })
  .describe('who a rule applies to; a user matches if any listed item matches');

export type Subject = z.output<typeof subjectSchema>;

export const identityHeadersSchema = z
  .strictObject({
    user: headerName.default('X-Auth-Request-User').describe('header carrying the username'),
    email: headerName.default('X-Auth-Request-Email').describe('header carrying the email address'),
    groups: headerName.default('X-Auth-Request-Groups').describe('header carrying the groups, comma-separated'),
    preferredUsername: headerName.default('X-Auth-Request-Preferred-Username').describe('header carrying the preferred username'),
  })
  .describe('names of the identity headers sent on every 2xx (empty values when unknown)');

/** An OAuth scope token (RFC 6749 §3.3). */
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'expected an OAuth scope token (no spaces or quotes)');

/**
 * A protected resource's canonical URL (RFC 8707 §2, RFC 9728 §1.2): absolute http(s), no
 * query, no fragment, no userinfo, a path made of plain characters so that the metadata URL and
 * the `aud` comparison are byte-exact.
 */
const resourceUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (
      (u.protocol === 'https:' || u.protocol === 'http:') &&
      u.hash === '' &&
      u.search === '' &&
      !s.includes('#') &&
      !s.includes('?') &&
      u.username === '' &&
      u.password === '' &&
      u.href.replace(/\/$/, '') === s.replace(/\/$/, '') &&
      /^\/[A-Za-z0-9._~!$&'()+,;=:@/-]*$/.test(u.pathname) &&
      !u.pathname.includes('//') &&
      !/\/\.\.?(?:\/|$)/.test(u.pathname)
    );
  } catch {
    return false;
  }
}, 'expected a canonical absolute http(s) URL such as https://mcp.example.org/mcp: lowercase host, no query, fragment, userinfo, dot segments or percent escapes');

/**
 * apps[].factors and resources[].factors: how someone must have signed in. A string is the short
 * form of `{ require }`.
 */
const factorsSetting = z
  .union([
    z.enum(['any', 'passkey']),
    z.strictObject({
      require: z
        .enum(['any', 'passkey'])
        .describe(
          'any: a second factor of any kind (TOTP, passkey, recovery code, or an upstream MFA that counts); passkey: a passkey or security key',
        ),
      maxAge: z
        .string()
        .refine((v) => parseDuration(v) !== undefined, { message: 'expected a duration such as 90s, 15m, 8h or 7d' })
        .transform((v) => parseDuration(v) ?? 0)
        .refine((ms) => ms >= 1000, {
          message: 'expected at least 1s: sign-in times are kept to the second, so a shorter maxAge could never be met',
        })
        .optional()
        .describe('how long ago that factor may have been used (a duration, at least 1s); older asks for the step again'),
    }),
  ])
  .transform((f): { require: 'any' | 'passkey'; maxAge?: number } => (typeof f === 'string' ? { require: f } : f))
  .optional();

export const appSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'expected a lowercase name of letters, digits and "-"')
      .describe('unique name, used in logs, metrics and explain'),
    hosts: z.array(hostPattern).min(1).describe('hosts this rule matches'),
    paths: z.array(pathPattern).optional().describe('paths this rule matches (default: every path)'),
    methods: z
      .array(z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']))
      .optional()
      .describe('methods this rule matches (default: every method)'),
    networks: z.array(cidr).optional().describe('client networks this rule matches (default: any)'),
    public: z.literal(true).optional().describe('answer 2xx to anyone, signed in or not'),
    allow: subjectSchema.optional().describe('allow these subjects'),
    deny: z
      .union([z.literal(true), subjectSchema])
      .optional()
      .describe('deny everyone (true) or these subjects (a deny list: everyone it does not name goes on to the next rule)'),
    headers: identityHeadersSchema.optional().describe('rename identity headers for this app (Grafana: X-WEBAUTH-USER, …)'),
    upstream: httpUrl.optional().describe('reverse-proxy mode: Gatehouse itself proxies allowed requests for these hosts to this URL'),
    factors: factorsSetting.describe(
      'how someone must have signed in: a session without it is sent to a step-up screen (only the missing step) and back; a bearer token without it gets 401 insufficient_user_authentication (RFC 9470)',
    ),
    audience: resourceUrl
      .optional()
      .describe(
        'accept bearer tokens at the gate for this app: JWT access tokens from this issuer whose aud is exactly this (such as https://grafana.example.org; clients and agents ask for it with resource=<audience>, RFC 8707); the same allow/deny decides',
      ),
  })
  .describe(
    'an app: an ordered rule; the first whose host, path, method and network match decides (its subject allows or refuses with 403, never a later rule; only a deny list without allow hands the users it does not name to the next rule)',
  );

export type AppConfig = z.output<typeof appSchema>;

const connectorIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'expected 1-32 lowercase letters, digits and "-"')
  .describe('unique id: in the callback state, in logs, and in /oauth2/start?provider=<id>');

const upstreamSecret = z.string().min(1).describe('the OAuth client secret; write it as ${env:NAME} or ${file:/path}, never inline');

const emailDomainList = z
  .array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, 'expected a domain such as example.org, without "@"'))
  .optional()
  .describe('only these email domains (the address must be verified)');
const emailList = z
  .array(z.string().regex(/^[^@\s]+@[^@\s]+$/, 'expected an email address with exactly one "@"'))
  .optional()
  .describe('only these exact addresses, compared case-insensitively (the address must be verified)');
const upstreamGroupList = z.array(z.string().min(1)).optional().describe('only members of one of these upstream groups (before mapping)');

export const groupMappingSchema = z
  .strictObject({
    prefix: z.string().default('').describe('put before every upstream group not listed in map (for example "github:")'),
    map: z
      .record(
        z.string(),
        z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v])),
      )
      .default({})
      .describe('upstream group -> Gatehouse group(s), taken as they are (no prefix)'),
    unmapped: z.enum(['keep', 'drop']).default('keep').describe('keep (with prefix) or drop upstream groups not listed in map'),
  })
  .prefault({})
  .describe('how upstream groups become Gatehouse groups (rules, headers and claims see the result)');

const connectorCommon = {
  id: connectorIdSchema,
  name: z.string().min(1).optional().describe('the button label: "Continue with <name>" (default: GitHub, Microsoft, or the id)'),
  clientId: z.string().min(1).describe('the OAuth client id registered upstream'),
  clientSecret: upstreamSecret,
  createAccounts: z
    .enum(['auto', 'invite'])
    .default('invite')
    .describe(
      'auto: a first sign-in that passes `allow` creates an account; invite: only upstream identities already linked (or linked by verified email) may sign in',
    ),
  linkByEmail: z
    .boolean()
    .default(false)
    .describe(
      'link a first sign-in to the existing account with the same email when both addresses are verified (never an unverified one)',
    ),
  groups: groupMappingSchema,
  refreshInterval: duration(
    '5m',
    "how often a signed-in user's upstream access and groups are checked again (at session renewal); removal upstream takes effect within this",
  ),
  scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'expected an OAuth scope token'))
    .optional()
    .describe('scopes to request instead of the default ones'),
};

export const githubConnectorSchema = z
  .strictObject({
    ...connectorCommon,
    type: z.literal('github').describe('GitHub or GitHub Enterprise Server, as an OAuth app'),
    baseUrl: httpUrl.default('https://github.com').describe('GitHub Enterprise: https://github.example.org (the web host)'),
    apiUrl: httpUrl.optional().describe('the REST API (default: https://api.github.com, or <baseUrl>/api/v3 for Enterprise)'),
    allow: z
      .strictObject({
        orgs: z.array(z.string().min(1)).optional().describe('only members of one of these organizations'),
        teams: z
          .array(z.string().regex(/^[^:\s]+:[^:\s]+$/, 'expected org:team-slug'))
          .optional()
          .describe('only members of one of these teams, written org:team-slug'),
        emailDomains: emailDomainList,
        emails: emailList,
      })
      .prefault({})
      .describe('who may sign in (every listed kind must match; within a kind, any entry)'),
  })
  .describe(
    'GitHub: the login is the preferred username, the verified primary email comes from /user/emails, teams become groups org:team',
  );

export const oidcConnectorSchema = z
  .strictObject({
    ...connectorCommon,
    type: z.literal('oidc').describe('any OpenID Connect provider (Google, Keycloak, Authentik, Dex, GitLab, Okta, Auth0)'),
    issuer: httpUrl.describe('the issuer URL, exactly as the provider writes it in its discovery document (no redirects are followed)'),
    claims: z
      .strictObject({
        username: z.string().min(1).default('preferred_username').describe('claim for the username (dot.path for nested claims)'),
        email: z.string().min(1).default('email').describe('claim for the email address'),
        emailVerified: z
          .string()
          .min(1)
          .default('email_verified')
          .describe('claim saying the address is verified; absent means unverified'),
        name: z.string().min(1).default('name').describe('claim for the display name'),
        groups: z.string().min(1).default('groups').describe('claim for the groups, such as groups or realm_access.roles'),
      })
      .prefault({})
      .describe('where to find each attribute in the ID token (and userinfo)'),
    userinfo: z.boolean().default(false).describe('also read the userinfo endpoint (for providers that leave claims out of the ID token)'),
    mfa: z
      .enum(['ignore', 'trust'])
      .default('ignore')
      .describe(
        "whether the provider's multi-factor sign-in counts here: trust, when its ID token's amr says mfa (or otp, hwk, swk, sms) it counts as a second factor; ignore: it never does (its amr is still recorded)",
      ),
    allow: z
      .strictObject({
        hostedDomains: z
          .array(z.string().min(1))
          .optional()
          .describe('Google Workspace: only these hosted domains (the hd claim is checked, not just asked for)'),
        emailDomains: emailDomainList,
        emails: emailList,
        groups: upstreamGroupList,
      })
      .prefault({})
      .describe('who may sign in (every listed kind must match; within a kind, any entry)'),
  })
  .describe('a generic OpenID Connect provider: discovery, PKCE, nonce, openid-client');

export const entraConnectorSchema = z
  .strictObject({
    ...connectorCommon,
    type: z.literal('entra').describe('Microsoft Entra ID (Azure AD), v2.0 endpoints'),
    tenant: z
      .string()
      .regex(/^[A-Za-z0-9.-]+$/, 'expected a tenant id (GUID), a verified domain, or organizations')
      .describe('the tenant to sign in with; a GUID or domain restricts sign-in to that tenant'),
    authority: httpUrl
      .default('https://login.microsoftonline.com')
      .describe('the sign-in host (national clouds: https://login.microsoftonline.us, …)'),
    mfa: z
      .enum(['ignore', 'trust'])
      .default('ignore')
      .describe(
        "whether Entra's multi-factor sign-in counts here: trust, when its ID token's amr says mfa it counts as a second factor; ignore: it never does (its amr is still recorded)",
      ),
    graphUrl: httpUrl
      .default('https://graph.microsoft.com')
      .describe('Microsoft Graph, read when the token says the user has too many groups to list'),
    allow: z
      .strictObject({
        tenants: z.array(z.string().min(1)).optional().describe('only these tenant ids (the tid claim), for tenant: organizations'),
        emailDomains: emailDomainList,
        emails: emailList,
        groups: upstreamGroupList,
      })
      .prefault({})
      .describe('who may sign in (every listed kind must match; within a kind, any entry)'),
  })
  .describe('Microsoft Entra ID: groups from the token, or from Microsoft Graph on group overage');

export const connectorSchema = z
  .discriminatedUnion('type', [githubConnectorSchema, oidcConnectorSchema, entraConnectorSchema])
  .describe('an upstream identity provider; each gets a button on the sign-in page');

export type ConnectorConfig = z.output<typeof connectorSchema>;
export type GithubConnectorConfig = z.output<typeof githubConnectorSchema>;
export type OidcConnectorConfig = z.output<typeof oidcConnectorSchema>;
export type EntraConnectorConfig = z.output<typeof entraConnectorSchema>;
export type GroupMapping = z.output<typeof groupMappingSchema>;

export const domainSchema = z
  .strictObject({
    domain: z
      .string()
      .regex(
        /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$|^localhost$/,
        'expected a lowercase domain such as example.org',
      )
      .describe('a domain served by this instance; redirects are accepted to it and its subdomains (label boundary)'),
    cookieDomain: z.string().optional().describe('the Domain attribute for the session cookie on this domain (default: the domain itself)'),
    allowHttp: z.boolean().default(false).describe('accept plain-http redirect targets on this domain (development only)'),
  })
  .describe('a domain this instance serves: sign-in redirects and session cookies are scoped to it');

export const groupSchema = z
  .strictObject({
    name: z.string().min(1).describe('group name'),
    members: z.array(z.string().min(1)).default([]).describe('usernames of local accounts in this group'),
  })
  .describe('a group declared in config');

/** A redirect URI compared exactly (RFC 9700 §4.1.3: no patterns, no prefix matching). */
const redirectUri = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (
      u.hash === '' &&
      !s.includes('*') &&
      (u.protocol === 'https:' || u.protocol === 'http:' || /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(u.protocol))
    );
  } catch {
    return false;
  }
}, 'expected an absolute URL without fragment or wildcard (https, http for localhost, or a reverse-DNS scheme for native apps)');

export const clientSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'expected letters, digits, ".", "_", ":" and "-"')
      .describe('the client_id'),
    name: z.string().min(1).optional().describe('shown on the consent screen (default: the id)'),
    secret: z
      .string()
      .min(16, 'expected a client secret of at least 16 characters')
      .optional()
      .describe('the client secret (confidential clients); write it as ${env:NAME} or ${file:/path}, never inline'),
    public: z.boolean().default(false).describe('a public client (SPA, CLI, native app): no secret, PKCE with S256 required'),
    tokenEndpointAuthMethod: z
      .enum(['client_secret_basic', 'client_secret_post'])
      .default('client_secret_basic')
      .describe('how a confidential client sends its secret to the token endpoint (RFC 6749 §2.3.1)'),
    redirectUris: z.array(redirectUri).min(1).describe('redirect URIs, compared exactly'),
    postLogoutRedirectUris: z.array(redirectUri).default([]).describe('where RP-initiated logout may return, compared exactly'),
    firstParty: z
      .boolean()
      .default(false)
      .describe('consent is implicit (your own apps); otherwise the user is asked once per client and scope set'),
    grantTypes: z
      .array(z.enum(['authorization_code', 'refresh_token']))
      .min(1)
      .default(['authorization_code', 'refresh_token'])
      .describe('grants the client may use; refresh tokens are issued only with the offline_access scope'),
    rotateRefreshTokens: z
      .boolean()
      .default(true)
      .describe('every refresh returns a new refresh token and the old one stops working; a reused one revokes the grant'),
    allowedGroups: z
      .array(z.string().min(1))
      .optional()
      .describe('only members of one of these groups may sign in to this client (default: every user)'),
    claims: z.array(z.enum(CLIENT_CLAIMS)).optional().describe('the claims this client may receive besides sub (default: all of them)'),
    backchannelLogoutUri: httpUrl
      .optional()
      .describe('OpenID Connect back-channel logout: a logout token is POSTed here when the user signs out'),
  })
  .superRefine((c, ctx) => {
    if (c.public && c.secret !== undefined)
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'a public client has no secret: remove secret or set public: false' });
    if (!c.public && c.secret === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'a confidential client needs a secret (or set public: true and use PKCE)',
      });
    // Agents' client ids (`gatehouse agent create`): a config client under one would take its place.
    if (/^agent[.:]/i.test(c.id))
      ctx.addIssue({
        code: 'custom',
        path: ['id'],
        message: `"${c.id}" is reserved: agent.<name> and agent:<name> are the client ids of agents (gatehouse agent)`,
      });
  })
  .describe('an OpenID Connect client (relying party) declared in config');

export type ClientConfig = z.output<typeof clientSchema>;

/** Asymmetric JWS algorithms a DPoP proof may use (RFC 9449 §4.2: never none, never a MAC). */
export const DPOP_ALGS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'] as const;

export const issuerSchema = z
  .strictObject({
    idTokenLifetime: duration('1h', 'lifetime of ID tokens'),
    accessTokenLifetime: duration('1h', 'lifetime of access tokens'),
    refreshTokenLifetime: duration(
      '30d',
      'how long refresh tokens work after the sign-in that issued the first one (rotation never extends it)',
    ),
    refreshTokenIdle: duration(
      '7d',
      'a rotating refresh token unused this long stops working (each refresh starts the period again, within refreshTokenLifetime)',
    ),
    signingKeyOverlap: duration(
      '1h',
      'after `gatehouse keys rotate`, how long beyond the longest token lifetime an old public key stays published',
    ),
    defaultResource: z
      .string()
      .min(1)
      .optional()
      .describe(
        'the resource (one of resources[].resource) an access token is for when the client names none (RFC 8707); default: none, and such a token is opaque, good only at userinfo',
      ),
    registration: z
      .enum(['open', 'token', 'off'])
      .default('open')
      .describe(
        'dynamic client registration (RFC 7591) at /oidc/reg: open to anyone (MCP clients register themselves), token (an initial access token, issuer.registrationToken), or off',
      ),
    registrationToken: z
      .string()
      .min(16, 'expected an initial access token of at least 16 characters')
      .optional()
      .describe('the initial access token for issuer.registration: token; write it as ${env:NAME} or ${file:/path}, never inline'),
    refreshTokenGrace: duration(
      '30s',
      'a rotated refresh token of a public client still works once within this time (a client that lost the answer retries); a later reuse revokes the grant',
    ),
    clientMetadata: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            'accept an https URL as client_id and fetch its client ID metadata document (draft-ietf-oauth-client-id-metadata-document)',
          ),
        allowPrivate: z
          .boolean()
          .default(false)
          .describe(
            'fetch documents from private, loopback and link-local addresses too (tests only: otherwise a client_id could make Gatehouse reach inside your network)',
          ),
      })
      .prefault({})
      .describe('client ID metadata documents: the way MCP clients identify themselves without registering'),
    dpop: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            'DPoP (RFC 9449): a client that sends a DPoP proof to /oidc/token gets tokens bound to its key, and the gate then accepts them only with a fresh proof of that key (Authorization: DPoP); false: not advertised, proofs ignored at /oidc/token',
          ),
        algorithms: z
          .array(z.enum(DPOP_ALGS))
          .min(1)
          .default(['ES256', 'EdDSA', 'Ed25519'])
          .describe(
            "the signature algorithms a DPoP proof may use (dpop_signing_alg_values_supported, and algs in the gate's DPoP challenges)",
          ),
        proofLifetime: duration(
          '60s',
          "how far a DPoP proof's iat may be from now, either way (RFC 9449 §11.1), at /oidc/token and at the gate; each proof's jti is remembered that long (shared through the store, so a replay fails on every replica)",
        ),
      })
      .prefault({})
      .describe('sender-constrained access tokens (DPoP, RFC 9449)'),
    registrationLimits: z
      .strictObject({
        maxBodyBytes: z
          .number()
          .int()
          .min(1024)
          .max(1_048_576)
          .default(16_384)
          .describe('the largest registration request body (RFC 7591) in bytes; larger is 413'),
        perAddress: z
          .number()
          .int()
          .min(1)
          .default(30)
          .describe('registrations one client address may make per registrationLimits.window; more is 429 with Retry-After'),
        window: duration('1h', 'the window of registrationLimits.perAddress'),
        unusedClientLifetime: duration(
          '30d',
          'a dynamically registered client that has not been used (no authorization, token or registration request) for this long is deleted',
        ),
      })
      .prefault({})
      .describe('limits on dynamic client registration at /oidc/reg (open to the internet when issuer.registration: open)'),
  })
  .superRefine((t, ctx) => {
    if (t.registration === 'token' && t.registrationToken === undefined)
      ctx.addIssue({ code: 'custom', path: ['registrationToken'], message: 'issuer.registration: token needs issuer.registrationToken' });
    if (t.registration !== 'token' && t.registrationToken !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['registrationToken'],
        message: 'issuer.registrationToken is used only with issuer.registration: token',
      });
    if (t.refreshTokenIdle > t.refreshTokenLifetime)
      ctx.addIssue({
        code: 'custom',
        path: ['refreshTokenIdle'],
        message: 'issuer.refreshTokenIdle is longer than issuer.refreshTokenLifetime: it would never apply',
      });
  })
  .describe('the OpenID Connect provider and OAuth authorization server');

export const resourceSchema = z
  .strictObject({
    resource: resourceUrl.describe(
      'the canonical URL of the protected endpoint (RFC 8707), such as https://mcp.example.org/mcp; requests to it and below it need a bearer token whose aud is exactly this',
    ),
    name: z
      .string()
      .min(1)
      .optional()
      .describe('a human-readable name: resource_name in the metadata, and the name in logs and metrics (default: the URL)'),
    scopes: z
      .array(scopeToken)
      .default([])
      .describe(
        'scopes this resource understands: scopes_supported in its metadata and scope in the 401 challenge (offline_access is never advertised there)',
      ),
    requiredScopes: z
      .array(scopeToken)
      .optional()
      .describe('scopes every token must carry, else 403 insufficient_scope (default: all of scopes except offline_access)'),
    allow: subjectSchema.optional().describe('who may use it (default: any user holding a valid token); a token of anyone else gets 403'),
    upstream: httpUrl
      .optional()
      .describe('reverse-proxy mode: Gatehouse proxies allowed requests to this URL, without the Authorization header'),
    factors: factorsSetting.describe(
      "how the person behind a token must have signed in (the token's acr and auth_time): short of it, 401 insufficient_user_authentication naming acr_values and max_age (RFC 9470), so the client asks the issuer for the step-up",
    ),
  })
  .superRefine((r, ctx) => {
    for (const [i, s] of (r.requiredScopes ?? []).entries()) {
      if (!r.scopes.includes(s))
        ctx.addIssue({
          code: 'custom',
          path: ['requiredScopes', i],
          message: `required scope "${s}" is not in scopes: add it there too (clients ask for the scopes listed there)`,
        });
    }
  })
  .describe('an MCP server or API protected by bearer tokens from this issuer (RFC 9728 protected resource); checked before the apps');

export type ResourceConfig = z.output<typeof resourceSchema>;

const secretList = z
  .union([z.string(), z.array(z.string()).min(1)])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .describe('a secret, or a list whose first entry is current and the rest still accepted (rotation)');

// Loopback JWKS over plain http is allowed (a sidecar, tests); anything else must be https, or a
// network attacker could swap the keys and mint any identity.
const jwksUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    if (u.hash !== '' || u.username !== '' || u.password !== '') return false;
    return u.protocol === 'https:' || (u.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname));
  } catch {
    return false;
  }
}, 'expected an https URL without fragment or credentials (http only on 127.0.0.1, [::1] or localhost)');

export const trustedIssuerSchema = z
  .strictObject({
    issuer: z
      .string()
      .refine((s) => {
        try {
          const u = new URL(s);
          return u.protocol === 'https:' && u.hash === '' && u.search === '' && u.username === '' && u.password === '';
        } catch {
          return false;
        }
      }, 'expected an https URL without query, fragment or credentials')
      .describe("the issuer identifier; a token's iss must equal it exactly (no trailing-slash folding)"),
    jwksUri: jwksUrl.describe(
      "the issuer's JSON Web Key Set (its discovery document's jwks_uri); fetched with a timeout, cached, refetched for an unknown kid",
    ),
    audiences: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe("the apps[].audience values this issuer's tokens may be used for (default: every app with an audience)"),
    usernameClaim: z
      .enum(['preferred_username', 'sub', 'email'])
      .default('sub')
      .describe(
        'the claim that becomes the username (default sub, the only one OpenID Connect guarantees stable; email counts only when email_verified is true); a token without it is refused',
      ),
    groupsClaim: z
      .enum(['groups'])
      .optional()
      .describe("the claim read as the user's groups (default: none, the issuer's groups are not trusted)"),
  })
  .describe('an external OpenID Connect provider whose JWT access tokens the gate accepts at apps with an audience');

export type TrustedIssuerConfig = z.output<typeof trustedIssuerSchema>;

export const tokensSchema = z
  .strictObject({
    trustedIssuers: z
      .array(trustedIssuerSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((t, i) => {
          if (seen.has(t.issuer)) ctx.addIssue({ code: 'custom', path: [i, 'issuer'], message: `duplicate trusted issuer "${t.issuer}"` });
          seen.add(t.issuer);
        });
      })
      .describe(
        "other issuers whose JWTs are accepted at apps with apps[].audience (RS256, ES256 or EdDSA; iss exact; aud must include the app's audience)",
      ),
  })
  .describe('bearer tokens from other issuers at the gate');

export const configSchema = z
  .strictObject({
    publicUrl: httpUrl
      .optional()
      .describe(
        'the external URL of the portal, such as https://auth.example.org, or with a path (https://example.org/auth: the portal, the issuer and its metadata then live under the path; a change of path needs a restart); every redirect is built from it, never from the bind address',
      ),
    listen: z
      .strictObject({
        host: z.string().default('127.0.0.1').describe('address to bind'),
        port: z.number().int().min(0).max(65535).default(4180).describe('TCP port (0 picks a free one)'),
      })
      .prefault({})
      .describe('where the HTTP server listens'),
    workers: z
      .union([z.number().int().min(1).max(256), z.literal('auto')])
      .default(1)
      .describe(
        'processes serving requests: 1 (the default) is one process; N forks N workers that share the listeners, the store and the revocation feed (docs/running.md, "Every core"); auto: the CPUs the process may use (affinity, cgroup quota), at most one per 192 MiB of its memory limit. `serve --workers` and GATEHOUSE_WORKERS override it (read at start)',
      ),
    metrics: z
      .strictObject({
        listen: z
          .strictObject({
            host: z.string().default('127.0.0.1').describe('address to bind; 0.0.0.0 (or the pod IP) for Prometheus in a cluster'),
            port: z.number().int().min(0).max(65535).describe('TCP port, such as 9464 (0 picks a free one)'),
          })
          .optional()
          .describe('a second listener serving only /metrics, /healthz and /readyz; when set, the main listener no longer serves /metrics'),
      })
      .prefault({})
      .describe(
        'where /metrics is served. Without metrics.listen it is on the main listener, and only to requests that came straight to Gatehouse: one a proxy forwarded (X-Forwarded-*, Forwarded, X-Real-IP or X-Original-* present), or addressed to the portal host or a host under domains[], gets 404',
      ),
    dataDir: z.string().default('./data').describe('directory for the embedded database and generated secret'),
    database: z
      .strictObject({
        url: z
          .string()
          .optional()
          .describe('postgres://… for PostgreSQL; sqlite:/path or unset for the embedded SQLite file under dataDir'),
        migrationLockTimeout: duration('5m', 'how long start-up waits for another process holding the migration lock'),
      })
      .prefault({})
      .describe('where users, sessions and clients are stored'),
    secrets: z
      .strictObject({
        session: secretList
          .optional()
          .describe('root secret(s), any encoding, at least 32 bytes of entropy; generated into dataDir when unset'),
      })
      .prefault({})
      .describe('root secrets; every key is derived from them (HKDF)'),
    trustedProxies: z
      .array(trustedProxy)
      .default(['127.0.0.0/8', '::1/128'])
      .transform((list) => list.map((e) => (typeof e === 'string' ? { cidr: e, kind: 'auto' as const } : e)))
      .describe(
        'peers whose X-Forwarded-* or X-Original-* headers are believed: an address or CIDR range (kind auto), or { cidr, kind }. ' +
          'kind nginx (nginx, ingress-nginx): the original URL comes from X-Original-URL/-Method only; kind forwarded (Traefik, Caddy): ' +
          'from X-Forwarded-Method/-Proto/-Host/-Uri only; auto: X-Original-URL when present, else X-Forwarded-*. In every kind a request ' +
          "carrying both families is refused with 400 unless they agree on method, host and path. The narrowest matching range decides a peer's kind",
      ),
    log: z
      .strictObject({
        level: z.enum(['debug', 'info', 'warn', 'error']).default('info').describe('the lowest level written'),
      })
      .prefault({})
      .describe('logging (JSON lines on stdout)'),
    limits: z
      .strictObject({
        sessionCache: z
          .number()
          .int()
          .min(100)
          .default(50_000)
          .describe(
            'sessions (with their unsealed cookies) kept in memory; past it the oldest tenth is dropped and read again from the store when next seen; only cookies Gatehouse sealed can enter (read at start)',
          ),
        tokenCache: z
          .number()
          .int()
          .min(100)
          .default(10_000)
          .describe(
            'verified access tokens remembered until they expire; past it the oldest is dropped; only tokens that verify can enter (read at start)',
          ),
        throttleEntries: z
          .number()
          .int()
          .min(100)
          .default(50_000)
          .describe(
            'accounts, and separately source addresses, the sign-in throttle tracks; when full, expired entries go first, then those not slowing anyone down, so junk names cannot lift a throttle (read at start)',
          ),
        pendingPasswordChecks: z
          .number()
          .int()
          .min(1)
          .default(64)
          .describe('sign-ins waiting for the password hashing thread; one more is answered 429 (read at start)'),
      })
      .prefault({})
      .describe(
        'memory bounds for what clients can add to: every cache and map keyed by client input has a size bound (docs/architecture.md, "Bounded memory")',
      ),
    session: z
      .strictObject({
        cookieName: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/, 'expected letters, digits, "_" and "-"')
          // RFC 6265bis §4.1.3.2: a __Host- cookie has Path=/ and no Domain. The session cookie
          // carries the Domain that shares it with the apps' hosts, and the sign-in cookies
          // (<name>_login, <name>_csrf) a path: every sign-in would fail. Browsers match the prefix
          // in any case.
          .refine(
            (n) => !/^__host-/i.test(n),
            "a __Host- name cannot be used: the session cookie carries a Domain (shared with the apps' hosts) and the sign-in cookies a path, which that prefix forbids; use __Secure- or no prefix",
          )
          .optional()
          .describe(
            "session cookie name (default: unique per instance, derived from publicUrl); no __Host- prefix (the cookie is shared with the apps' hosts), __Secure- only with an https publicUrl",
          ),
        lifetime: duration('7d', 'absolute session lifetime'),
        idleTimeout: duration('1d', 'a session unused this long ends'),
        loginStateLifetime: duration('15m', 'how long a started sign-in may take'),
      })
      .prefault({})
      .describe('browser sessions'),
    signIn: z
      .strictObject({
        throttle: z
          .strictObject({
            perAccount: z.number().int().min(1).default(5).describe('failed attempts per account per window before it is slowed'),
            perAddress: z.number().int().min(1).default(20).describe('failed attempts per source address per window'),
            window: duration('15m', 'throttling window'),
          })
          .prefault({})
          .describe('slowing down repeated failed sign-ins, per account and per source address (never globally)'),
        localAccounts: z.boolean().default(true).describe('show the username and password form; false: upstream providers only'),
        autoRedirect: z
          .boolean()
          .default(true)
          .describe('with localAccounts: false and exactly one connector, go straight to it instead of showing a page with one button'),
      })
      .prefault({})
      .describe('the sign-in pages'),
    factors: z
      .strictObject({
        totp: z.boolean().default(false).describe('authenticator apps (TOTP, RFC 6238) as a second factor'),
        passkeys: z
          .boolean()
          .default(false)
          .describe('passkeys and security keys (WebAuthn): as a second factor, and to sign in without a password'),
        require: z
          .strictObject({
            everyone: z.boolean().default(false).describe('every person must use a second factor'),
            groups: z
              .array(z.string().min(1))
              .default(['admins'])
              .describe('members of these groups must use a second factor (default: admins)'),
          })
          .prefault({})
          .describe(
            'who must use a second factor when totp or passkeys is on; someone without one is taken through enrolment right after the password',
          ),
        name: z.string().min(1).max(64).default('Gatehouse').describe('the name authenticator apps and passkey prompts show for this site'),
      })
      .prefault({})
      .describe('second factors: TOTP, passkeys and security keys, recovery codes'),
    email: z
      .strictObject({
        smtp: z
          .strictObject({
            host: z.string().min(1).describe("the SMTP server's host name or address"),
            port: z
              .number()
              .int()
              .min(1)
              .max(65535)
              .default(587)
              .describe('the SMTP port (587 submission with STARTTLS, 465 with implicit TLS)'),
            tls: z
              .enum(['starttls', 'implicit', 'none'])
              .default('starttls')
              .describe(
                'starttls: upgrade the connection and refuse a server that cannot; implicit: TLS from the first byte (port 465); none: plain text (a relay on the same host or pod only)',
              ),
            username: z.string().min(1).optional().describe('user name for SMTP AUTH; unset: no authentication'),
            password: z.string().min(1).optional().describe('password for SMTP AUTH (use ${env:…} or ${file:…})'),
          })
          .optional()
          .describe(
            'the server mail is sent through; unset: no mail is sent, and the operator hands links over (`gatehouse invite create`, `gatehouse user reset-link`)',
          ),
        from: z
          .string()
          .min(3)
          .default('Gatehouse <gatehouse@localhost>')
          .describe('the From of every message, such as "Gatehouse <auth@example.org>"'),
        notices: z
          .strictObject({
            passwordChanged: z.boolean().default(true).describe('tell a person by mail when their password was changed or reset'),
            newAddress: z
              .boolean()
              .default(false)
              .describe('tell a person by mail when they signed in from an address none of their sessions of the last 30 days came from'),
          })
          .prefault({})
          .describe("security notices sent to the account's address"),
      })
      .prefault({})
      .describe('mail: invitations, password reset, sign-up verification and security notices'),
    signUp: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            'let people enrol themselves: they give an address in emailDomains, get a link there, and choose credentials; off: enrolment is by invitation only',
          ),
        emailDomains: z
          .array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, 'expected a lowercase domain such as example.org, without "@"'))
          .default([])
          .describe('the addresses that may sign up (exact domain after the one "@"); required when enabled'),
        groups: z.array(z.string().min(1)).default([]).describe('groups a self-enrolled account gets'),
        linkLifetime: duration('24h', 'how long a sign-up link works'),
      })
      .prefault({})
      .describe('self sign-up (the address is always verified first: the link to choose credentials goes to it)'),
    passwordReset: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            'offer "forgot your password?" on the sign-in page (the link goes by mail, so it needs email.smtp); operator links (`gatehouse user reset-link`) work either way',
          ),
        linkLifetime: duration('30m', 'how long a reset link works (it works once)'),
        perAccount: z.number().int().min(1).default(3).describe('reset requests per account (as typed) per window'),
        perAddress: z.number().int().min(1).default(10).describe('reset requests per source address per window'),
        window: duration('1h', 'the window the request limits count in'),
      })
      .prefault({})
      .describe('password reset by a single-use link'),
    domains: z.array(domainSchema).default([]).describe('domains this instance serves; redirects go only to these'),
    headers: identityHeadersSchema.prefault({}).describe('default identity header names'),
    connectors: z
      .array(connectorSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((c, i) => {
          if (seen.has(c.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate connector id "${c.id}"` });
          seen.add(c.id);
        });
      })
      .describe('upstream identity providers (GitHub, OpenID Connect, Microsoft Entra ID)'),
    groups: z.array(groupSchema).default([]).describe('groups declared in config (read-only in the admin UI)'),
    apps: z
      .array(appSchema)
      .default([])
      .describe('ordered rules; the first whose host, path, method and network match decides; anything unmatched is denied'),
    resources: z
      .array(resourceSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((r, i) => {
          const key = r.resource.replace(/\/$/, '');
          if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [i, 'resource'], message: `duplicate resource "${r.resource}"` });
          seen.add(key);
        });
      })
      .describe(
        'protected resources (MCP servers, APIs) that take bearer tokens; a request at or below a resource URL is decided here, before apps',
      ),
    issuer: issuerSchema.prefault({}).describe('the OpenID Connect provider: token lifetimes and keys'),
    clients: z
      .array(clientSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((c, i) => {
          if (seen.has(c.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate client id "${c.id}"` });
          seen.add(c.id);
        });
      })
      .describe('OpenID Connect clients (apps that sign in through Gatehouse: Grafana, ArgoCD, kubectl, …)'),
    tokens: tokensSchema.prefault({}).describe("bearer tokens the gate accepts besides its own issuer's"),
    demo: z.boolean().default(false).describe('serve the built-in demo app behind the gate (on by default only without a config file)'),
  })
  .superRefine((c, ctx) => {
    // RFC 6265bis §4.1.3.1: a __Secure- cookie needs Secure, which an http publicUrl (other than
    // localhost, app/settings.ts secureCookies) does not give.
    if (
      c.session.cookieName !== undefined &&
      /^__secure-/i.test(c.session.cookieName) &&
      c.publicUrl !== undefined &&
      !/^https:/i.test(c.publicUrl) &&
      !/^http:\/\/localhost(:|\/|$)/i.test(c.publicUrl)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['session', 'cookieName'],
        message: 'a __Secure- name needs an https publicUrl: browsers refuse the cookie without Secure',
      });
    }
    if (c.signUp.enabled && c.signUp.emailDomains.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['signUp', 'emailDomains'],
        message: 'signUp.enabled needs at least one domain: without it anyone with any address could enrol',
      });
    }
    if (c.signUp.enabled && c.email.smtp === undefined) {
      ctx.addIssue({ code: 'custom', path: ['signUp', 'enabled'], message: 'sign-up verifies the address by mail: set email.smtp' });
    }
    if ((c.email.smtp?.username === undefined) !== (c.email.smtp?.password === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['email', 'smtp', c.email.smtp?.username === undefined ? 'username' : 'password'],
        message: 'email.smtp.username and email.smtp.password go together',
      });
    }
    const d = c.issuer.defaultResource;
    if (d !== undefined && !c.resources.some((r) => r.resource === d)) {
      ctx.addIssue({ code: 'custom', path: ['issuer', 'defaultResource'], message: `"${d}" is not one of resources[].resource` });
    }
    // Our own issuer is verified by its own keys, never by a fetched JWKS.
    const own = c.publicUrl?.replace(/\/+$/, '');
    c.tokens.trustedIssuers.forEach((t, i) => {
      if (own !== undefined && t.issuer.replace(/\/+$/, '') === own) {
        ctx.addIssue({
          code: 'custom',
          path: ['tokens', 'trustedIssuers', i, 'issuer'],
          message: `"${t.issuer}" is this instance's own issuer (publicUrl): its tokens are accepted already`,
        });
      }
      for (const [j, a] of (t.audiences ?? []).entries()) {
        if (!c.apps.some((app) => app.audience === a)) {
          ctx.addIssue({
            code: 'custom',
            path: ['tokens', 'trustedIssuers', i, 'audiences', j],
            message: `"${a}" is not one of apps[].audience`,
          });
        }
      }
    });
    // A rule asking for a factor nobody can have would lock everyone out of it.
    const factorsPossible = (f: { require: 'any' | 'passkey' } | undefined, path: (string | number)[], what: string): void => {
      if (f === undefined) return;
      if (!c.factors.totp && !c.factors.passkeys) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `${what}.factors needs factors.totp or factors.passkeys: no one could have a second factor`,
        });
      } else if (f.require === 'passkey' && !c.factors.passkeys) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'require'],
          message: `${what}.factors.require: passkey needs factors.passkeys: true`,
        });
      }
    };
    c.apps.forEach((a, i) => {
      factorsPossible(a.factors, ['apps', i, 'factors'], 'apps[]');
      if (a.factors !== undefined && a.public === true)
        ctx.addIssue({
          code: 'custom',
          path: ['apps', i, 'factors'],
          message: 'a public app cannot require factors: it answers everyone without a session',
        });
    });
    c.resources.forEach((r, i) => factorsPossible(r.factors, ['resources', i, 'factors'], 'resources[]'));
    // One audience, one kind of resource server: a protected resource's URL is bearer-only at the
    // gate, so an app naming it as its audience would never see its own tokens.
    c.apps.forEach((a, i) => {
      if (a.audience !== undefined && c.resources.some((r) => r.resource === a.audience)) {
        ctx.addIssue({
          code: 'custom',
          path: ['apps', i, 'audience'],
          message: `"${a.audience}" is already a resources[].resource: give the app an audience of its own`,
        });
      }
    });
  })
  .describe('Gatehouse configuration: one YAML file or a directory of them; unknown keys are errors');

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
