// The documented PostgreSQL backup path (issue 15; docs/backups.md): `gatehouse backup` on a
// PostgreSQL store prints the pg_dump command, `gatehouse restore` the pg_restore command; both
// are run here exactly as printed, against a real server: dump while Gatehouse serves, restore
// into an empty database, start Gatehouse on it. The session cookie from before the dump works,
// the people, the agent (a client in the store) and the signing keys are the dump's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { runCli } from '../../src/cli/index.ts';
import { send } from '../kit/http.ts';
import { ALICE, BOB, cookieHeader, fakeIO, forwardAuth, type Instance, PASSWORD, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';
import { tempDir } from '../kit/temp.ts';
import { HTTPS, ISSUER } from '../kit/issuer.ts';
import { basic, json, MCP, mcpConfig, token } from '../kit/mcp.ts';
import { createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';

async function cli(configPath: string, ...args: string[]) {
  const io = fakeIO(`${PASSWORD}\n`, {});
  const code = await runCli([...args, '--config', configPath], io);
  return { code, out: io.stdout, err: io.stderr };
}

/** Runs a printed shell command with DATABASE_URL set, as an operator would paste it. */
function sh(command: string, databaseUrl: string): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { env: { ...process.env, DATABASE_URL: databaseUrl }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.once('exit', (code) => resolve({ code, err }));
  });
}

const APP = 'https://app.example.test/dashboard';

describe('PostgreSQL: pg_dump while serving, pg_restore into an empty database', () => {
  let from: TestDatabase;
  let into: TestDatabase;
  let dir: string;
  let inst: Instance | undefined;

  before(async () => {
    await requirePostgres();
    from = await createTestDatabase();
    into = await createTestDatabase();
    dir = await tempDir();
  });
  after(async () => {
    await inst?.close();
    await from?.drop();
    await into?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the printed commands back up and restore sessions, people, clients and signing keys', async () => {
    inst = await startInstance({ dir, config: (d) => ({ ...mcpConfig(d), database: { url: from.url } }), users: [ALICE, BOB] });
    const configPath = inst.configPath;
    const alice = await signIn(inst, 'alice');
    const agent = await cli(configPath, 'agent', 'create', 'builder');
    assert.equal(agent.code, 0, agent.err.join('\n'));
    const agentSecret = /client_secret: +(\S+)/.exec(agent.out.join('\n'))![1]!;
    const t1 = await token(
      inst,
      { grant_type: 'client_credentials', resource: MCP, scope: 'mcp:tools' },
      { authorization: basic('agent:builder', agentSecret) },
    );
    assert.equal(t1.status, 200, t1.body);
    const jwksBefore = JSON.parse((await send(inst.port, { path: '/oidc/jwks', headers: HTTPS })).body) as JSONWebKeySet;

    const file = join(dir, 'gatehouse.dump');
    const b = await cli(configPath, 'backup', file);
    assert.equal(b.code, 1);
    const dump = /back it up with .*?: (pg_dump .*) \(docs\/backups\.md\)$/.exec(b.err[0]!)?.[1];
    assert.equal(dump, 'pg_dump --format=custom --file FILE "$DATABASE_URL"');
    // While Gatehouse serves.
    const dumped = await sh(dump!.replace('FILE', file), from.url);
    assert.equal(dumped.code, 0, dumped.err);

    // After the dump: a user the restore must not bring back.
    assert.equal((await cli(configPath, 'user', 'add', 'carol', '--password-stdin')).code, 0);
    await inst.close();
    inst = undefined;

    // Restore into an empty database with the printed command, then start on it.
    const r = await cli(join(dir, 'gatehouse.yaml'), 'restore', file);
    assert.equal(r.code, 1);
    const restore = /restore a pg_dump archive with (pg_restore .*? FILE), with every replica stopped/.exec(r.err[0]!)?.[1];
    assert.equal(restore, 'pg_restore --clean --if-exists --no-owner --dbname "$DATABASE_URL" FILE');
    const restored = await sh(restore!.replace('FILE', file), into.url);
    assert.equal(restored.code, 0, restored.err);

    inst = await startInstance({ config: (d) => ({ ...mcpConfig(d), database: { url: into.url } }), users: [] });
    const fa = await forwardAuth(inst.port, APP, { cookie: cookieHeader(inst, alice.value) });
    assert.equal(fa.status, 202);
    assert.equal(fa.headers['x-auth-request-user'], 'alice');
    const users = await cli(inst.configPath, 'user', 'list');
    assert.deepEqual(users.out.map((l) => l.split('\t')[0]).sort(), ['alice', 'bob']);
    const jwksAfter = JSON.parse((await send(inst.port, { path: '/oidc/jwks', headers: HTTPS })).body) as JSONWebKeySet;
    assert.deepEqual(jwksAfter, jwksBefore);
    await jwtVerify(String(json(t1).access_token), createLocalJWKSet(jwksAfter), { issuer: ISSUER, audience: MCP });
    const t2 = await token(
      inst,
      { grant_type: 'client_credentials', resource: MCP, scope: 'mcp:tools' },
      { authorization: basic('agent:builder', agentSecret) },
    );
    assert.equal(t2.status, 200, t2.body);
  });
});
