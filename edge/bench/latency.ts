/* eslint-disable no-console -- a benchmark prints its numbers */
// The edge middleware's added latency per request on a warm session, and the package's size.
//
// Two Workers in workerd (Miniflare), the same static files and compatibility date, one port
// each: the example Worker with protect(), and the same Worker without the middleware (it calls
// env.ASSETS.fetch / answers /whoami directly). Requests alternate between them over keep-alive
// connections, so load on this shared machine hits both alike; the numbers are per-request wall
// times seen by the client, median and p90 of many, and the difference of the medians.
//
//   node edge/bench/latency.ts [iterations=2000]
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { createSealer } from '../src/seal.ts';
import { buildEdge, startWorker } from '../../test/kit/edge.ts';
import { freePort } from '../../test/kit/http.ts';

const N = Number(process.argv[2] ?? 2000);
const SECRET = 'bench-session-secret-0123456789abcdef';

const BASELINE = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/whoami') {
      const seen = {};
      for (const [name, value] of request.headers) if (name.startsWith('x-auth-request') || name === 'cookie') seen[name] = value;
      return Response.json(seen);
    }
    return env.ASSETS.fetch(request);
  },
};
`;

function get(agent: http.Agent, port: number, path: string, cookie: string): Promise<{ ms: number; status: number }> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, path, agent, headers: { Host: `edge.example.test:${port}`, Accept: 'text/html', Cookie: cookie } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t) / 1e6, status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}

const q = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]!; };

const built = await buildEdge();
const bindings = { GATEHOUSE_ISSUER: 'http://localhost:9', GATEHOUSE_ALLOW_HTTP: 'true', GATEHOUSE_CLIENT_SECRET: 'x', GATEHOUSE_SESSION_SECRET: SECRET, GATEHOUSE_SESSION_LIFETIME: '3600' };
const pa = await freePort();
const pb = await freePort();
const withGate = await startWorker(built, { port: pa, bindings });
const without = await startWorker(built, { port: pb, bindings, main: BASELINE, withoutPackage: true });
try {
  const sealer = await createSealer([SECRET], 'session');
  const now = Math.floor(Date.now() / 1000);
  const cookie = `gatehouse_edge=${await sealer.seal('gatehouse_edge', { sub: 'u1', u: 'alice', e: 'alice@example.org', g: ['staff'], iat: now, exp: now + 3600 })}`;
  const agentA = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const agentB = new http.Agent({ keepAlive: true, maxSockets: 1 });
  console.log(`iterations per path and Worker: ${N} (after ${Math.min(200, N)} warm-up)`);
  for (const [path, what] of [['/secret', 'protected static file (rules, unseal, identity headers, env.ASSETS.fetch)'], ['/whoami', 'protected app route (no asset)'], ['/assets/site.css', 'public static file (rules only)']] as const) {
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < N + 200; i++) {
      const [ra, rb] = i % 2 === 0
        ? [await get(agentA, pa, path, cookie), await get(agentB, pb, path, cookie)]
        : [await get(agentB, pb, path, cookie), await get(agentA, pa, path, cookie)].reverse() as [{ ms: number; status: number }, { ms: number; status: number }];
      if (ra.status !== 200 || rb.status !== 200) throw new Error(`${path}: status ${ra.status} / ${rb.status}`);
      if (i >= 200) { a.push(ra.ms); b.push(rb.ms); }
    }
    const d = q(a, 0.5) - q(b, 0.5);
    console.log(`${path.padEnd(17)} ${what}\n  with protect(): median ${q(a, 0.5).toFixed(3)} ms, p90 ${q(a, 0.9).toFixed(3)} ms\n  without:        median ${q(b, 0.5).toFixed(3)} ms, p90 ${q(b, 0.9).toFixed(3)} ms\n  added (median): ${(d * 1000).toFixed(0)} µs`);
  }
  agentA.destroy();
  agentB.destroy();
  const own = built.modules.filter((m) => !m.path.endsWith('oauth4webapi')).map((m) => m.contents).join('');
  const all = built.modules.map((m) => m.contents).join('');
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`bundle (unminified, as tsc emits, without tree-shaking): package ${kib(Buffer.byteLength(own))} (gzip ${kib(gzipSync(own).length)}), with oauth4webapi ${kib(Buffer.byteLength(all))} (gzip ${kib(gzipSync(all).length)})`);
} finally {
  await withGate.stop();
  await without.stop();
  await built.remove();
}
