// The MCP protected-resource suites: an instance whose access-token keys are
// the test's own (jose, generated per suite), tokens signed with them, and an echo upstream.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { ManualClock } from '../../src/core/index.ts';
import { startInstance, type Instance, type UserSpec } from './server.ts';

export const ISSUER = 'https://auth.example.test';
export const T0 = Date.UTC(2026, 0, 1);

export interface SigningKey {
  priv: CryptoKey;
  pub: JWK;
  kid: string;
  alg: 'ES256' | 'RS256';
}

export async function signingKey(alg: 'ES256' | 'RS256', kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { priv: privateKey, pub: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, kid, alg };
}

/** An RFC 9068 access token as our issuer makes them; `claims` override (undefined removes). */
export function accessToken(k: SigningKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(T0 / 1000);
  return new SignJWT({
    iss: ISSUER,
    sub: 'user-alice',
    client_id: 'mcp-client',
    iat: now,
    exp: now + 3600,
    jti: `j-${Math.random()}`,
    ...claims,
  })
    .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'at+jwt', ...header })
    .sign(k.priv);
}

export interface McpInstance extends Instance {
  clock: ManualClock;
  keys: { set: JSONWebKeySet };
}

/** Start Gatehouse with `config`, the given users, a frozen clock, and `keys` as the access-token keys. */
export async function startMcpInstance(
  config: (dir: string) => Record<string, unknown>,
  users: UserSpec[],
  jwks: JSONWebKeySet,
): Promise<McpInstance> {
  const clock = new ManualClock(T0);
  const keys = { set: jwks };
  const inst = await startInstance({ config, users, clock, start: { accessTokenKeys: () => keys.set } });
  // The subject of the tokens accessToken() signs: the gate refuses tokens of users who do not
  // exist (or are disabled), as it must for a deleted user.
  await inst.running.store.users.create({
    id: 'user-alice',
    username: 'token-alice',
    email: null,
    emailVerified: false,
    name: null,
    groups: [],
    passwordHash: null,
    disabled: false,
  });
  return { ...inst, clock, keys };
}

export interface Echoed {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** An upstream that answers with what it received. */
export async function startEcho(): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'echo' });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
