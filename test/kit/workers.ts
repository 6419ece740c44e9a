// `serve --workers` in the suites: a connection held to one particular worker (the listener is
// shared, so which worker gets a connection is the primary's choice: round robin), the merged
// /metrics read back, and forward auth asked over a held connection.
import assert from 'node:assert/strict';
import { pinnedConnection, request, type HttpResponse } from './http.ts';
import { timeUntil } from './poll.ts';
import { signIn } from './sign-in.ts';

export interface WorkerConnection {
  /** The slot (1..N) of the worker at the other end, and its pid, as its /readyz says. */
  worker: number;
  pid: number;
  get(url: string, headers?: Record<string, string>): Promise<HttpResponse>;
  close(): void;
}

/** Opens connections to 127.0.0.1:port until one reaches the worker in `slot` (the others are closed). */
export async function connectionTo(port: number, slot: number, attempts = 24): Promise<WorkerConnection> {
  for (let i = 0; i < attempts; i++) {
    const c = pinnedConnection();
    const ready = await request(`http://127.0.0.1:${port}/readyz`, { agent: c.agent });
    const about = JSON.parse(ready.body) as { worker?: number; pid?: number };
    if (ready.status === 200 && about.worker === slot && typeof about.pid === 'number') {
      return {
        worker: slot,
        pid: about.pid,
        get: (url, headers = {}) => request(url, { agent: c.agent, connectTo: { host: '127.0.0.1', port }, headers }),
        close: c.close,
      };
    }
    c.close();
  }
  throw new Error(`no connection to 127.0.0.1:${port} reached worker ${slot} in ${attempts} attempts`);
}

/** The value of one sample of the merged exposition (labels exactly as written), or undefined. */
export function sample(metrics: string, series: string): number | undefined {
  for (const line of metrics.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** GET /metrics from the main listener (a direct request: no forwarded headers, an address as the host). */
export async function metricsOf(port: number): Promise<string> {
  const res = await request(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200, `/metrics answered ${res.status}`);
  return res.body;
}

/** Forward auth as a proxy on loopback asks it (X-Forwarded-*), for app.example.test. */
export async function forwardAuth(c: WorkerConnection, port: number, cookie: string): Promise<number> {
  const res = await c.get(`http://127.0.0.1:${port}/oauth2/auth`, {
    'X-Forwarded-Method': 'GET',
    'X-Forwarded-Proto': 'http',
    'X-Forwarded-Host': 'app.example.test',
    'X-Forwarded-Uri': '/',
    Accept: 'application/json',
    Cookie: cookie,
  });
  return res.status;
}

/**
 * Signs `username` in, checks the session passes forward auth on worker 1 and on worker 2 (each
 * over a held connection), signs out through worker 1 and returns how long worker 2 took to
 * refuse the session (401), polled every 10 ms.
 */
export async function signOutSeenByOtherWorker(port: number, portal: string, username: string, password: string): Promise<number> {
  const one = await connectionTo(port, 1);
  const two = await connectionTo(port, 2);
  try {
    const signed = await signIn({ base: portal, connectTo: { host: '127.0.0.1', port } }, username, password);
    assert.equal(await forwardAuth(one, port, signed.cookie), 202, 'the session passes on worker 1');
    assert.equal(await forwardAuth(two, port, signed.cookie), 202, 'the session passes on worker 2');
    const out = await one.get(`${portal}/oauth2/sign_out`, { Accept: 'text/html', Cookie: signed.cookie });
    assert.equal(out.status, 200, `sign-out answered ${out.status}`);
    assert.equal(await forwardAuth(one, port, signed.cookie), 401, 'worker 1 refuses the session it ended at once');
    return await timeUntil(async () => (await forwardAuth(two, port, signed.cookie)) === 401, {
      timeoutMs: 5000,
      intervalMs: 10,
      what: 'worker 2 refusing the signed-out session',
    });
  } finally {
    one.close();
    two.close();
  }
}
