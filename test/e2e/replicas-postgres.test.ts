// Three replicas on one PostgreSQL database behind the shipped nginx config (issue 15), under
// load: the upstream block of docs/proxies/nginx/gatehouse.conf with three servers (nginx's
// default round robin), the app behind auth_request, wrk driving signed-in clients through it.
// Mid-load one replica is killed with SIGKILL and started again, and every Gatehouse connection
// to PostgreSQL is terminated (pg_terminate_backend). Counted and asserted: requests, failures
// (at most the killed replica's in-flight requests), sessions lost (none), revocation latency
// per replica (each within 1 s, after both events), a sign-in started on one replica finished
// on another, and the signing keys every replica publishes.
//
// Runs in the e2e suite: it needs nginx and wrk (scripts/install-e2e-deps.sh) and PostgreSQL
// (GATEHOUSE_TEST_PG, as `npm run test:postgres`). About a minute.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { formAction, hiddenInputs } from '../kit/html.ts';
import { CookieJar, freePort, jarRequest, request } from '../kit/http.ts';
import { repoRoot } from '../kit/paths.ts';
import { type ProxyProcess, startNginx } from '../kit/proxies.ts';
import { nginxSnippets, readDoc, render } from '../kit/proxy-docs.ts';
import { tempDir } from '../kit/temp.ts';
import { timeUntil, until } from '../kit/poll.ts';
import { adminQuery, createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';

const exec = promisify(execFile);
const SECRET = '5gz8AqwGm/T2mcN0AH4r+8+L/C84Y9Dg+Kl7QDHYjDw=';
const PASSWORD = 'correct horse battery staple';
const CLIENTS = 24;
const LOAD_SECONDS = 30;

interface Replica {
  name: string;
  port: number;
  child: ChildProcess;
  out: string;
  configPath: string;
}

describe('three replicas on PostgreSQL behind nginx, under load, one killed with SIGKILL', () => {
  let db: TestDatabase;
  let dir: string;
  let nginx: ProxyProcess | undefined;
  let app: Server | undefined;
  let nginxPort = 0;
  const replicas: Replica[] = [];
  let portal = '';

  const configFor = (port: number, dataDir: string) => `publicUrl: ${portal}
listen: { host: 127.0.0.1, port: ${port} }
dataDir: ${JSON.stringify(dataDir)}
secrets: { session: "${SECRET}" }
database: { url: "${db.url}" }
domains: [ { domain: example.test, allowHttp: true } ]
apps:
  - { name: app, hosts: [app.example.test], allow: { anyUser: true } }
`;

  async function start(r: Replica): Promise<void> {
    r.out = '';
    r.child = spawn(process.execPath, [join(repoRoot, 'bin', 'gatehouse.js'), 'serve', '--config', r.configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    r.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      r.out += d;
    });
    r.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      r.out += d;
    });
    await until(
      async () => {
        if (r.child.exitCode !== null) throw new Error(`${r.name} exited (${r.child.exitCode}):\n${r.out}`);
        return request(`http://127.0.0.1:${r.port}/readyz`).then(
          (x) => x.status === 200,
          () => false,
        );
      },
      { timeoutMs: 30_000, what: `${r.name} ready`, intervalMs: 100 },
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}:\n${r.out}`, { cause: e });
    });
  }

  async function stop(r: Replica): Promise<void> {
    if (r.child.exitCode !== null || r.child.signalCode !== null) return;
    r.child.kill('SIGTERM');
    await new Promise((res) => r.child.once('exit', res));
  }

  /** The sign-in form from one replica, posted to another (or the same): the session cookie for the app. */
  async function signIn(formFrom: Replica, postTo: Replica): Promise<string> {
    const jar = new CookieJar();
    const rd = `http://app.example.test:${nginxPort}/`;
    const formUrl = `${portal}/oauth2/sign_in?rd=${encodeURIComponent(rd)}`;
    const form = await jarRequest(jar, formUrl, {
      connectTo: { host: '127.0.0.1', port: formFrom.port },
      headers: { Accept: 'text/html' },
    });
    assert.equal(form.status, 200);
    const res = await jarRequest(jar, formAction(form.body, formUrl), {
      connectTo: { host: '127.0.0.1', port: postTo.port },
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'text/html', Origin: portal },
      body: new URLSearchParams({ ...hiddenInputs(form.body), username: 'alice', password: PASSWORD }).toString(),
    });
    assert.equal(
      res.status,
      303,
      `sign-in (form from ${formFrom.name}, posted to ${postTo.name}) answered ${res.status}: ${res.body.slice(0, 200)}`,
    );
    const cookie = jar.header(rd);
    assert.ok(cookie, 'no session cookie for the app host');
    return cookie;
  }

  /** Forward auth asked of one replica directly, as a proxy on loopback asks it. */
  async function check(r: Replica, cookie: string): Promise<number> {
    const res = await request(`http://127.0.0.1:${r.port}/oauth2/auth`, {
      headers: {
        'X-Forwarded-Method': 'GET',
        'X-Forwarded-Proto': 'http',
        'X-Forwarded-Host': `app.example.test:${nginxPort}`,
        'X-Forwarded-Uri': '/',
        Accept: 'application/json',
        Cookie: cookie,
      },
    });
    return res.status;
  }

  /** Signs one session out through nginx and returns, per replica, how long until it refuses the session. */
  async function revocationLatency(cookie: string): Promise<number[]> {
    const out = await request(`${portal}/oauth2/sign_out`, {
      connectTo: { host: '127.0.0.1', port: nginxPort },
      headers: { Accept: 'text/html', Cookie: cookie },
    });
    assert.ok([200, 302, 303].includes(out.status), `sign-out answered ${out.status}`);
    return Promise.all(
      replicas.map((r) =>
        timeUntil(async () => (await check(r, cookie)) === 401, {
          timeoutMs: 5000,
          what: `${r.name} refuses the signed-out session`,
          intervalMs: 10,
        }).catch(() => Infinity),
      ),
    );
  }

  before(async () => {
    await requirePostgres();
    db = await createTestDatabase();
    dir = await tempDir('replicas');
    nginxPort = await freePort();
    portal = `http://auth.example.test:${nginxPort}`;
    for (let i = 1; i <= 3; i++) {
      const port = await freePort();
      const configPath = join(dir, `replica-${i}.yaml`);
      await mkdir(join(dir, `data-${i}`));
      await writeFile(configPath, configFor(port, join(dir, `data-${i}`)));
      replicas.push({ name: `replica ${i}`, port, configPath, out: '', child: undefined as unknown as ChildProcess });
    }
    // One after another: start-up races are another suite's subject (test/postgres).
    for (const r of replicas) await start(r);
    const add = spawn(
      process.execPath,
      [join(repoRoot, 'bin', 'gatehouse.js'), 'user', 'add', 'alice', '--password-stdin', '--config', replicas[0]!.configPath],
      { stdio: ['pipe', 'ignore', 'inherit'] },
    );
    add.stdin!.end(`${PASSWORD}\n`);
    assert.equal(await new Promise((r) => add.once('exit', r)), 0);

    app = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    });
    app.keepAliveTimeout = 65_000;
    await new Promise<void>((r) => app!.listen(0, '127.0.0.1', r));
    const appPort = (app.address() as { port: number }).port;
    // The shipped config, its upstream given the three replicas (nginx balances round robin).
    const shipped = render(await readDoc('nginx/gatehouse.conf'), {
      GATEHOUSE: `127.0.0.1:${replicas[0]!.port}`,
      LISTEN: nginxPort,
      PORTAL_NAME: 'auth.example.test',
    });
    const line = `    server 127.0.0.1:${replicas[0]!.port};`;
    assert.ok(shipped.includes(`${line}\n`), 'the shipped upstream block has one server line');
    const three = shipped.replace(line, replicas.map((r) => `    server 127.0.0.1:${r.port};`).join('\n'));
    const appConf = render(await readDoc('nginx/app.conf'), {
      LISTEN: nginxPort,
      SERVER_NAME: 'app.example.test',
      APP_UPSTREAM: `127.0.0.1:${appPort}`,
    });
    nginx = await startNginx(`${three}\n${appConf}`, {
      port: nginxPort,
      files: await nginxSnippets(),
    });
  });

  after(async () => {
    for (const r of replicas) if (r.child) await stop(r);
    await nginx?.stop();
    if (app) {
      app.closeAllConnections();
      await new Promise((r) => app!.close(r));
    }
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('kill -9 and restart one replica, terminate every database connection: no session lost, failures bounded, revocations within 1 s everywhere', async () => {
    // Signed-in clients, each signed in through a different replica.
    const cookies: string[] = [];
    for (let i = 0; i < CLIENTS; i++) cookies.push(await signIn(replicas[i % 3]!, replicas[i % 3]!));
    const forRevocation = [await signIn(replicas[0]!, replicas[0]!), await signIn(replicas[1]!, replicas[1]!)];

    const script = join(dir, 'clients.lua');
    await writeFile(
      script,
      `
local cookies = { ${cookies.map((c) => JSON.stringify(c)).join(', ')} }
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) i = 0; ok = 0; redirected = 0; denied = 0; failed = 0 end
function request()
  i = i % #cookies + 1
  return wrk.format("GET", "/", { ["Host"] = "app.example.test:${nginxPort}", ["Cookie"] = cookies[i] })
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status >= 300 and status < 400 then redirected = redirected + 1
  elseif status >= 400 and status < 500 then denied = denied + 1
  else failed = failed + 1 end
end
function done(summary, latency, requests)
  local o, r, d, f = 0, 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); r = r + t:get("redirected"); d = d + t:get("denied"); f = f + t:get("failed") end
  local e = summary.errors
  io.write(string.format("RESULT requests=%d ok=%d redirected=%d denied=%d failed=%d connect=%d read=%d write=%d timeout=%d\\n",
    summary.requests, o, r, d, f, e.connect, e.read, e.write, e.timeout))
end
`,
    );
    const load = exec('wrk', ['-t1', '-c16', `-d${LOAD_SECONDS}s`, '--timeout', '5s', '-s', script, `http://127.0.0.1:${nginxPort}/`], {
      maxBuffer: 1 << 20,
    });

    // Mid-load: SIGKILL one replica, start it again on its port.
    await new Promise((r) => setTimeout(r, 5000));
    const victim = replicas[1]!;
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));
    const killedAt = Date.now();
    await start(victim);
    const restartMs = Date.now() - killedAt;

    // Then every Gatehouse connection to the database is terminated (a failover, a restart).
    await new Promise((r) => setTimeout(r, 3000));
    const reconnects = (r: Replica) => r.out.split('revocation listener reconnected').length - 1;
    const reconnectsBefore = replicas.map(reconnects);
    const terminated = Number(
      (
        await adminQuery(
          'SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [db.name],
        )
      ).rows[0].n,
    );
    assert.ok(terminated >= 3, `terminated ${terminated} connections (each replica holds at least its LISTEN connection)`);

    // A revocation after both events reaches every replica within a second, once each replica's
    // revocation listener says it is back.
    await until(() => replicas.every((r, i) => reconnects(r) > reconnectsBefore[i]!), {
      timeoutMs: 15_000,
      what: 'every revocation listener reconnected',
    });
    const latency = await revocationLatency(forRevocation[0]!);

    const { stdout } = await load;
    const m =
      /RESULT requests=(\d+) ok=(\d+) redirected=(\d+) denied=(\d+) failed=(\d+) connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+)/.exec(
        stdout,
      );
    assert.ok(m, `no RESULT line from wrk:\n${stdout}`);
    const [requests, ok, redirected, denied, failed, connect, read, write, timeout] = m.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];

    // Sessions lost: any of the clients' sessions that some replica no longer accepts.
    let lost = 0;
    for (const c of cookies) for (const r of replicas) if ((await check(r, c)) !== 202) lost++;
    // A second revocation, on the restarted replica's watch.
    const latency2 = await revocationLatency(forRevocation[1]!);

    console.log(
      `# ${LOAD_SECONDS} s of load through nginx to 3 replicas, ${CLIENTS} signed-in clients, 16 connections: ` +
        `${requests} requests, ${ok} answered 200, ${redirected} redirected to sign-in, ${denied} 4xx, ${failed} 5xx, ` +
        `socket errors connect ${connect} read ${read} write ${write} timeout ${timeout}; ` +
        `replica 2 killed with SIGKILL and ready again after ${restartMs} ms; ${terminated} database connections terminated; ` +
        `sessions lost ${lost}; revocation latency per replica ${latency.join('/')} ms, again ${latency2.join('/')} ms`,
    );

    assert.ok(requests > 1000, `only ${requests} requests`);
    assert.equal(lost, 0, 'sessions lost');
    // No client was sent to sign in again and none was refused: a redirect would be a lost session.
    assert.equal(redirected, 0);
    assert.equal(denied, 0);
    // Failures only from the requests in flight on the killed replica: at most one per connection.
    assert.ok(failed + read + write + timeout + connect <= 16, `${failed} 5xx and ${read + write + timeout + connect} socket errors`);
    for (const l of [...latency, ...latency2]) assert.ok(l <= 1000, `a replica refused a signed-out session only after ${l} ms`);
  });

  test('a sign-in started on one replica finishes on another; every replica publishes the same signing keys', async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const cookie = await signIn(a, b);
    assert.equal(await check(c, cookie), 202);
    const jwks = await Promise.all(
      replicas.map(async (r) => {
        const res = await request(`${portal}/oidc/jwks`, { connectTo: { host: '127.0.0.1', port: r.port } });
        assert.equal(res.status, 200, `${r.name}: /oidc/jwks ${res.status}`);
        return JSON.parse(res.body) as { keys: { kid: string }[] };
      }),
    );
    assert.ok(jwks[0]!.keys.length > 0);
    assert.deepEqual(jwks[1], jwks[0]);
    assert.deepEqual(jwks[2], jwks[0]);
  });
});
