// Two `gatehouse serve` processes on one store (a SQLite file, or a PostgreSQL database), for the
// issuer's record cache (src/issuer/record-cache.ts): replica B answers client_credentials
// tokens over and over, so its copy of the agent's client and record is always warm, while the
// CLI (a third process, as an operator runs it) deletes the agent. Every token B gave after the
// deletion must have been asked for within RECORD_CACHE_MS of it, and B and A refuse from then on.
import assert from 'node:assert/strict';
import { send } from './http.ts';
import { gateConfig, startGatehouse, type GatehouseProcess } from './process.ts';
import { SECRET_A } from './server.ts';
import { until } from './poll.ts';

const PORTAL = 'auth.example.test';

/** The YAML both replicas share: the same store (`store`: extra top-level YAML), secret and publicUrl. */
export function replicaYaml(store: string): string {
  return gateConfig({ publicUrl: `http://${PORTAL}`, extra: [`secrets: { session: '${SECRET_A}' }`, store].join('\n') });
}

export async function startReplicas(yaml: string): Promise<[GatehouseProcess, GatehouseProcess]> {
  const a = await startGatehouse(yaml);
  try {
    return [a, await startGatehouse(yaml)];
  } catch (e) {
    await a.stop();
    throw e;
  }
}

/** One client_credentials request (Basic, as `curl -u` sends it); the status and the OAuth error. */
async function token(gh: GatehouseProcess, basic: string): Promise<{ status: number; error?: string }> {
  const r = await send(gh.port, {
    method: 'POST',
    path: '/oidc/token',
    headers: { host: PORTAL, authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  return { status: r.status, ...(r.status === 200 ? {} : { error: (JSON.parse(r.body) as { error?: string }).error }) };
}

/**
 * Creates an agent through A's CLI, keeps B answering its tokens, deletes it through the CLI and
 * returns how long after the deletion (the CLI's exit) B's last token was asked for and its first refusal came.
 */
export async function deleteWhileServing(
  a: GatehouseProcess,
  b: GatehouseProcess,
  boundMs: number,
): Promise<{ lastOkMs: number; refusedMs: number }> {
  const made = await a.run(['agent', 'create', 'doomed', '--groups', 'ci']);
  assert.equal(made.code, 0, made.stderr);
  const id = /client_id: +(\S+)/.exec(made.stdout)?.[1] ?? '';
  const secret = /client_secret: +(\S+)/.exec(made.stdout)?.[1] ?? '';
  const basic = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  for (const r of [a, b]) assert.equal((await token(r, basic)).status, 200);

  // B is asked without pause while the CLI deletes the agent.
  let deletedAt: number | undefined;
  let lastOk = -Infinity;
  let refusedAt: number | undefined;
  let stop = false;
  const serving = (async () => {
    while (!stop) {
      const startedAt = performance.now();
      const t = await token(b, basic);
      if (t.status === 200) lastOk = startedAt;
      else {
        assert.deepEqual(t, { status: 401, error: 'invalid_client' });
        // (The deletion may be committed before the CLI process has exited.)
        refusedAt = performance.now();
        return;
      }
    }
  })();
  try {
    const del = await a.run(['agent', 'delete', 'doomed']);
    deletedAt = performance.now();
    assert.equal(del.code, 0, del.stderr);
    await until(() => refusedAt !== undefined, { timeoutMs: boundMs + 4000, what: 'replica B refuses the deleted agent' });
  } finally {
    stop = true;
    await serving;
  }
  const at = deletedAt as number;
  // Refused from then on, on both replicas.
  for (const r of [b, a]) assert.deepEqual(await token(r, basic), { status: 401, error: 'invalid_client' });
  return { lastOkMs: lastOk - at, refusedMs: (refusedAt as number) - at };
}
