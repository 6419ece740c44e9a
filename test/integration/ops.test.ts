// Operations: health, readiness, metrics, config reload (an invalid file changes nothing, a
// valid one swaps the rules), logs free of secrets, and an older binary refusing a newer schema.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { writeFile } from 'node:fs/promises';
import { GatehouseError, MemoryLogger } from '../../src/core/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startGatehouse, VERSION } from '../../src/app/index.ts';
import { LATEST_SCHEMA_VERSION } from '../../src/store/index.ts';
import { runCli } from '../../src/cli/index.ts';
import { send } from '../kit/http.ts';
import {
  ALICE,
  baseConfig,
  BOB,
  cookieHeader,
  fakeIO,
  forwardAuth,
  type Instance,
  openForm,
  PASSWORD,
  postSignIn,
  SECRET_A,
  startInstance,
  writeConfig,
} from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';
import { until } from '../kit/poll.ts';

const APP = 'https://app.example.test/x';

function metric(body: string, series: string): number | undefined {
  for (const line of body.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('health, readiness, metrics, reload, logs', () => {
  let inst: Instance;
  let alice: string;
  let aliceCookie: string;
  before(async () => {
    inst = await startInstance({ users: [ALICE, BOB], unwatched: true });
    aliceCookie = (await signIn(inst, 'alice')).value;
    alice = cookieHeader(inst, aliceCookie);
  });
  after(async () => {
    await inst.close();
  });

  const metrics = async () => (await send(inst.port, { path: '/metrics', headers: { host: 'gatehouse.internal' } })).body;

  test('/healthz answers 200 ok at once', async () => {
    const a = await send(inst.port, { path: '/healthz', headers: { host: 'gatehouse.internal' } });
    assert.equal(a.status, 200);
    assert.equal(a.body, 'ok');
    assert.equal(a.headers['cache-control'], 'no-store');
  });

  test('/readyz answers 200 with every check ok', async () => {
    const a = await send(inst.port, { path: '/readyz', headers: { host: 'gatehouse.internal' } });
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(a.body), { status: 'ready', checks: { config: 'ok', store: 'ok', migrations: 'ok' } });
  });

  test('/metrics exports config_reloads_total and counts an allow decision', async () => {
    const before = metric(await metrics(), 'gatehouse_forward_auth_decisions_total{decision="allow"}') ?? -1;
    assert.equal((await forwardAuth(inst.port, APP, { cookie: alice })).status, 202);
    const body = await metrics();
    assert.equal(metric(body, 'gatehouse_forward_auth_decisions_total{decision="allow"}'), before + 1);
    assert.match(body, /^# TYPE config_reloads_total counter$/m);
    assert.equal(metric(body, 'config_reloads_total{result="failure"}'), 0);
    assert.equal(metric(body, `gatehouse_build_info{version="${VERSION}"}`), 1);
  });

  test('an invalid config is refused on reload: false, the old rules keep serving, failure counted', async () => {
    await writeFile(inst.realConfigPath, 'publicUrl: [not, a, url]\napps: 12\nbogus: true\n');
    assert.equal(await inst.running.reload('manual'), false);
    assert.equal((await forwardAuth(inst.port, APP, { cookie: alice })).status, 202, 'alice is still allowed by the old rule');
    const body = await metrics();
    assert.equal(metric(body, 'config_reloads_total{result="failure"}'), 1);
    assert.equal(metric(body, 'config_reloads_total{result="success"}'), 0);
    assert.ok(
      inst.logger.lines.some(
        (l) => l.level === 'error' && l.msg.startsWith('configuration reload failed, the previous configuration stays in force'),
      ),
    );
  });

  test('a valid change swaps the rules whole', async () => {
    const bob = cookieHeader(inst, (await signIn(inst, 'bob')).value);
    assert.equal((await forwardAuth(inst.port, APP, { cookie: bob })).status, 403);
    await writeConfig(
      inst.realConfigPath,
      baseConfig(inst.dir, { apps: [{ name: 'app', hosts: ['app.example.test'], allow: { groups: ['staff'] } }] }),
    );
    assert.equal(await inst.running.reload('manual'), true);
    assert.equal((await forwardAuth(inst.port, APP, { cookie: alice })).status, 403);
    assert.equal((await forwardAuth(inst.port, APP, { cookie: bob })).status, 202);
    // The public rule is gone with the old config.
    assert.equal(
      (await forwardAuth(inst.port, 'https://app.example.test/public/x', { headers: { accept: 'application/json' } })).status,
      401,
    );
    assert.equal(metric(await metrics(), 'config_reloads_total{result="success"}'), 1);
  });

  test('a config change to group membership reaches sessions already in memory', async () => {
    await writeConfig(
      inst.realConfigPath,
      baseConfig(inst.dir, {
        groups: [{ name: 'staff', members: ['alice'] }],
        apps: [{ name: 'app', hosts: ['app.example.test'], allow: { groups: ['staff'] } }],
      }),
    );
    assert.equal(await inst.running.reload('manual'), true);
    // The identity refresh runs in the background after the reload; the next requests see it.
    await until(async () => (await forwardAuth(inst.port, APP, { cookie: alice })).status === 202, {
      timeoutMs: 5000,
      what: 'the refreshed identity lets alice in',
    });
    const a = await forwardAuth(inst.port, APP, { cookie: alice });
    assert.equal(a.headers['x-auth-request-groups'], 'admins,staff');
  });

  test('the logs never hold a password, a session cookie or the secret', async () => {
    // A failed and a successful sign-in, a reload, a sign-out: everything that logs.
    await postSignIn(inst, await openForm(inst), { username: 'alice', password: 'a wrong password!' });
    const { value: cookie } = await signIn(inst, 'alice');
    await send(inst.port, { path: '/oauth2/sign_out', headers: { host: 'auth.example.test', cookie: cookieHeader(inst, cookie) } });
    const text = inst.logger.text();
    assert.ok(text.length > 0);
    for (const secret of [PASSWORD, 'a wrong password!', SECRET_A, aliceCookie, cookie, aliceCookie.slice(0, 24), cookie.slice(0, 24)]) {
      assert.equal(text.includes(secret), false, `the log holds ${secret.slice(0, 6)}…`);
    }
  });
});

describe('a store newer than this release', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ users: [ALICE] });
    await inst.running.close();
    const db = new DatabaseSync(join(inst.dir, 'gatehouse.db'));
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(999, 'from_the_future', Date.now());
    db.close();
  });
  after(async () => {
    await inst.close();
  });

  const start = async () =>
    startGatehouse({ loaded: await loadConfig({ path: inst.configPath, env: {} }), logger: new MemoryLogger(), announce: () => {} });

  test('start-up is refused with schema_too_new naming the schema versions, the release, and what to do', async () => {
    await assert.rejects(start(), (err: unknown) => {
      assert.ok(err instanceof GatehouseError);
      assert.equal(err.kind, 'schema_too_new');
      assert.equal(
        err.detail,
        `the database schema is at version 999 but this release of gatehouse knows up to version ${LATEST_SCHEMA_VERSION}: ` +
          `run the newer release (or restore a backup taken before the upgrade); never downgrade against a migrated database (this is gatehouse ${VERSION})`,
      );
      return true;
    });
  });

  test('`gatehouse serve` exits 1 with the message on stderr', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['serve', '--config', inst.configPath], io), 1);
    assert.equal(io.stderr.length, 1);
    assert.match(
      io.stderr[0]!,
      /^gatehouse: the database schema is at version 999 but this release of gatehouse knows up to version \d+: run the newer release/,
    );
    assert.deepEqual(io.stdout, []);
  });
});

describe('sign-in metrics', () => {
  test('successes, failures and throttled attempts are counted', async () => {
    const inst = await startInstance({
      users: [ALICE],
      config: (dir) => baseConfig(dir, { signIn: { throttle: { perAccount: 1, perAddress: 100, window: '1m' } } }),
    });
    try {
      await signIn(inst, 'alice');
      await postSignIn(inst, await openForm(inst), { username: 'alice', password: 'nope nope' });
      await postSignIn(inst, await openForm(inst), { username: 'alice', password: 'nope nope' });
      const body = (await send(inst.port, { path: '/metrics', headers: { host: 'x' } })).body;
      assert.equal(metric(body, 'gatehouse_sign_in_attempts_total{result="success"}'), 1);
      assert.equal(metric(body, 'gatehouse_sign_in_attempts_total{result="failure"}'), 1);
      assert.equal(metric(body, 'gatehouse_sign_in_attempts_total{result="throttled"}'), 1);
    } finally {
      await inst.close();
    }
  });
});
