// The Kubernetes probes against a real process (issue 15): Gatehouse started the way the
// postgres overlay starts it (GATEHOUSE_CONFIG naming the ConfigMap's files, the Secret's files
// behind ${file:}), while another session holds the migration lock. Probed as the Deployment
// says (paths and port from deploy/kubernetes/base/deployment.yaml): the liveness path answers
// 200 all along, so no restart; the start-up and readiness path answers 503 until the lock is
// released, then 200, and the process never exits in between.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { parse } from 'yaml';
import { MIGRATION_LOCK_KEY } from '../../src/store/postgres/migrate.ts';
import { configFiles, KUBE, materialize, ROOT } from '../kit/kubernetes.ts';
import { freePort, request } from '../kit/http.ts';
import { until } from '../kit/poll.ts';
import { adminQuery, createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';

let db: TestDatabase;
before(async () => {
  await requirePostgres();
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

test('postgres overlay: while another replica holds the migration lock, liveness stays 200 and start-up/readiness 503; then ready', async () => {
  const deployment = parse(await readFile(join(KUBE, 'base/deployment.yaml'), 'utf8'));
  const c = deployment.spec.template.spec.containers[0];
  const probePort = (name: string) => c.ports.find((p: { name: string }) => p.name === name).containerPort as number;
  assert.equal(c.livenessProbe.httpGet.port, 'metrics');
  const m = await materialize(await configFiles('overlays/postgres'), {
    session: '+IgCoVQqg0/lBY/ijpasDEt4ezf5x0YQM8oB0e4TIME=',
    'database-url': db.url,
  });
  const holder = new pg.Client({ connectionString: db.url });
  let child: ReturnType<typeof spawn> | undefined;
  try {
    // This host's ports and a data directory for the pod's /data: the only changes to the files.
    const http = await freePort();
    const metrics = await freePort();
    const file = join(m.configDir, 'gatehouse.yaml');
    const text = await readFile(file, 'utf8');
    const local = text
      .replace(`listen: { host: 0.0.0.0, port: ${probePort('http')} }`, `listen: { host: 127.0.0.1, port: ${http} }`)
      .replace(`listen: { host: 0.0.0.0, port: ${probePort('metrics')} }`, `listen: { host: 127.0.0.1, port: ${metrics} }`)
      .replace('dataDir: /data', `dataDir: ${join(m.dir, 'data')}`);
    assert.equal((local.match(/127\.0\.0\.1/g) ?? []).length, 2);
    assert.ok(local.includes(m.dir));
    await writeFile(file, local);

    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);

    const env = Object.fromEntries((c.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
    assert.equal(env.GATEHOUSE_CONFIG, '/etc/gatehouse');
    child = spawn(process.execPath, [join(ROOT, 'bin/gatehouse.js'), ...c.args], {
      env: { ...process.env, GATEHOUSE_CONFIG: m.configDir, NODE_COMPILE_CACHE: join(m.dir, 'cache') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const probe = async (p: { httpGet: { path: string } }) =>
      request(`http://127.0.0.1:${metrics}${p.httpGet.path}`).then(
        (r) => r.status,
        () => 0,
      );

    // Waiting its turn: alive, not started, not ready.
    await until(() => (/waiting for the migration lock/.test(out) ? true : undefined), {
      timeoutMs: 15_000,
      what: 'the replica to wait for the lock',
    });
    // Probed as a kubelet would until the server shows the replica's backend blocked on the lock
    // for 3 s: every probe meanwhile answers as a waiting replica must.
    const blockedMs = async (): Promise<number> => {
      const { rows } = await adminQuery(
        `SELECT (extract(epoch FROM now() - a.query_start) * 1000)::int AS ms FROM pg_stat_activity a
        JOIN pg_locks l ON l.pid = a.pid WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = $1`,
        [db.name],
      );
      return (rows[0] as { ms: number } | undefined)?.ms ?? 0;
    };
    let rounds = 0;
    await until(
      async () => {
        assert.equal(child!.exitCode, null, `the process exited while waiting:\n${out}`);
        assert.equal(await probe(c.livenessProbe), 200, 'liveness failed while waiting for the lock: the kubelet would restart the pod');
        assert.equal(await probe(c.startupProbe), 503);
        assert.equal(await probe(c.readinessProbe), 503);
        rounds++;
        return rounds >= 10 && (await blockedMs()) >= 3000;
      },
      { timeoutMs: 20_000, what: "the replica's backend blocked on the migration lock for 3 s", intervalMs: 100 },
    );
    // The other replica finishes: this one migrates and becomes ready.
    await holder.query('COMMIT');
    await until(async () => ((await probe(c.startupProbe)) === 200 ? true : undefined), { timeoutMs: 15_000, what: 'start-up probe 200' });
    assert.equal(await probe(c.readinessProbe), 200);
    assert.equal(await probe(c.livenessProbe), 200);
    assert.equal(child.exitCode, null);
    assert.equal((out.match(/waiting for the migration lock/g) ?? []).length, 1);
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    await holder.end().catch(() => {});
    await m.cleanup();
  }
});
