// The issuer benchmark's baseline: oidc-provider on its own, as its README mounts it
// (`http.createServer(provider.callback())`), with nothing of Gatehouse around it. It knows one
// static client with the same id, secret, authentication method and grant as the agent the
// benchmark creates in Gatehouse, and one resource server for the same audience, so
// client_credentials with `resource` gets the same kind of token: an RFC 9068 JWT signed ES256
// carrying the same `groups` claim. Keys are generated at start (an RS256 pair for ID tokens,
// which Gatehouse publishes too, and the ES256 pair that signs the access tokens); storage is
// oidc-provider's built-in memory adapter (a JWT access token is not stored anyway).
//
// Usage: BENCH_CLIENT_ID=… BENCH_CLIENT_SECRET=… BENCH_RESOURCE=… BENCH_SCOPE=… BENCH_GROUPS=a,b \
//          node bench/oidc-provider-server.ts
// Prints {"msg":"listening","url":…}; the issuer is that url.
import http from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider';

function env(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') {
    console.error(`oidc-provider-server: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const clientId = env('BENCH_CLIENT_ID');
const clientSecret = env('BENCH_CLIENT_SECRET');
const resource = env('BENCH_RESOURCE');
const scope = env('BENCH_SCOPE');
const groups = env('BENCH_GROUPS').split(',');

async function signingKeys(): Promise<Array<Record<string, unknown>>> {
  const rs = await generateKeyPair('RS256', { extractable: true });
  const es = await generateKeyPair('ES256', { extractable: true });
  return [
    { ...(await exportJWK(rs.privateKey)), kid: 'rs', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(es.privateKey)), kid: 'es', alg: 'ES256', use: 'sig' },
  ];
}

// The issuer is the listening address, known only once the socket is bound: requests wait for
// the provider (none arrive before the "listening" line anyway).
let handler: http.RequestListener | undefined;
const server = http.createServer((req, res) => {
  if (handler === undefined) {
    res.writeHead(503).end();
    return;
  }
  handler(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  void (async () => {
    const a = server.address();
    if (a === null || typeof a === 'string') process.exit(1);
    const issuer = `http://127.0.0.1:${a.port}`;
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
        },
      ],
      jwks: { keys: await signingKeys() },
      scopes: ['openid', 'offline_access', scope],
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          getResourceServerInfo: (_ctx: KoaContextWithOIDC, indicator: string) => {
            if (indicator !== resource) throw new errors.InvalidTarget();
            return { scope, audience: resource, accessTokenFormat: 'jwt', accessTokenTTL: 3600, jwt: { sign: { alg: 'ES256' } } };
          },
          defaultResource: () => resource,
          useGrantedResource: () => true,
        },
      },
      // The claim Gatehouse adds to an agent's token (its groups), here a constant.
      extraTokenClaims: () => ({ groups }),
    });
    handler = provider.callback();
    console.log(JSON.stringify({ level: 30, msg: 'listening', url: issuer }));
  })();
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
