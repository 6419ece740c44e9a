// The issuer across replicas (issue 15): three Gatehouse processes on one PostgreSQL database,
// and openid-client (a certified relying party) doing code + PKCE where every request of the
// browser's dance goes to the next replica (round robin, as a load balancer would), the code is
// redeemed on replica 2, the refresh token used on replica 3 and the rotated one refused on
// replica 1. The ID token verifies with every replica's JWKS.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oidc from 'openid-client';
import { stringify } from 'yaml';
import { send } from '../kit/http.ts';
import { ALICE, type Instance, PASSWORD } from '../kit/server.ts';
import { tempDir } from '../kit/temp.ts';
import { authorize, discover, GRAFANA_CB, GRAFANA_SECRET, HTTPS, ISSUER, issuerConfig, PortalClient } from '../kit/issuer.ts';
import { repoRoot } from '../kit/paths.ts';
import { createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';
import { until } from '../kit/poll.ts';

const COOKIE = '_gatehouse_replicas';
const BIN = join(repoRoot, 'bin', 'gatehouse.js');

interface Replica {
  port: number;
  child: ChildProcess;
  out: () => string;
}

async function serve(configPath: string): Promise<Replica> {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const port = await until(
    async () => {
      if (child.exitCode !== null) throw new Error(`a replica exited (${child.exitCode}):\n${out}`);
      const m = /"url":"http:\/\/127\.0\.0\.1:(\d+)","version":"[^"]+","msg":"listening"/.exec(out);
      return (
        m &&
        (await send(Number(m[1]), { path: '/readyz' }).then(
          (r) => r.status === 200,
          () => false,
        )) &&
        Number(m[1])
      );
    },
    { timeoutMs: 30_000, what: 'a replica ready', intervalMs: 100 },
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}:\n${out}`, { cause: e });
  });
  return { port, child, out: () => out };
}

/** What the issuer helpers need of an instance: a port (here: the next replica's, every time it is read) and the cookie name. */
function via(ports: () => number): Instance {
  return {
    get port() {
      return ports();
    },
    running: { settings: () => ({ cookieName: COOKIE }) },
  } as unknown as Instance;
}

describe('the issuer on three replicas: code on one, redeemed on another, refreshed on a third', () => {
  let db: TestDatabase;
  let dir: string;
  const replicas: Replica[] = [];

  before(async () => {
    await requirePostgres();
    db = await createTestDatabase();
    dir = await tempDir();
    for (let i = 1; i <= 3; i++) {
      const data = join(dir, `data-${i}`);
      await mkdir(data);
      const config = issuerConfig(data, { database: { url: db.url }, session: { cookieName: COOKIE } });
      await writeFile(join(dir, `replica-${i}.yaml`), stringify(config));
    }
    const add = spawn(
      process.execPath,
      [
        BIN,
        'user',
        'add',
        'alice',
        '--email',
        ALICE.email!,
        '--groups',
        'admins',
        '--password-stdin',
        '--config',
        join(dir, 'replica-1.yaml'),
      ],
      { stdio: ['pipe', 'ignore', 'inherit'] },
    );
    add.stdin!.end(`${PASSWORD}\n`);
    assert.equal(await new Promise((r) => add.once('exit', r)), 0);
    for (let i = 1; i <= 3; i++) replicas.push(await serve(join(dir, `replica-${i}.yaml`)));
  });

  after(async () => {
    for (const r of replicas)
      if (r.child.exitCode === null) {
        r.child.kill('SIGTERM');
        await new Promise((res) => r.child.once('exit', res));
      }
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('openid-client: authorization round robin, code redeemed on replica 2, refresh on replica 3, the spent token refused on replica 1', async () => {
    let next = 0;
    const visits: number[] = [];
    const roundRobin = via(() => {
      const r = replicas[next++ % 3]!;
      visits.push(r.port);
      return r.port;
    });
    const on = (i: number) => via(() => replicas[i]!.port);

    const config1 = await discover(on(0), 'grafana', GRAFANA_SECRET);
    const config2 = await discover(on(1), 'grafana', GRAFANA_SECRET);
    const config3 = await discover(on(2), 'grafana', GRAFANA_SECRET);
    const browser = new PortalClient(roundRobin);
    const { callback, verifier, state } = await authorize(browser, config1, {
      redirect_uri: GRAFANA_CB,
      scope: 'openid profile email groups offline_access',
      prompt: 'consent',
    });
    // The dance really did cross replicas: every one of them answered part of it.
    assert.deepEqual(new Set(visits).size, 3, `requests went to ${visits.join(', ')}`);

    const tokens = await oidc.authorizationCodeGrant(config2, callback, { pkceCodeVerifier: verifier, expectedState: state });
    assert.equal(tokens.claims()?.preferred_username, 'alice');
    assert.deepEqual(tokens.claims()?.groups, ['admins']);
    assert.ok(tokens.refresh_token);
    const refreshed = await oidc.refreshTokenGrant(config3, tokens.refresh_token);
    assert.ok(refreshed.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    // Rotation is shared: the spent token is refused on a replica that never saw it used.
    await assert.rejects(
      oidc.refreshTokenGrant(config1, tokens.refresh_token),
      (err: Error & { error?: string }) => err.error === 'invalid_grant',
    );

    // The signing keys agree: the ID token verifies with each replica's JWKS.
    for (const r of replicas) {
      const jwks = JSON.parse((await send(r.port, { path: '/oidc/jwks', headers: HTTPS })).body) as JSONWebKeySet;
      const { payload } = await jwtVerify(tokens.id_token!, createLocalJWKSet(jwks), { issuer: ISSUER, audience: 'grafana' });
      assert.equal(payload.preferred_username, 'alice');
    }
  });
});
