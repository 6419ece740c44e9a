// Path differentials, end to end: a generated table of path encodings sent as raw request lines
// (a socket, not fetch: a URL library would normalize the path first) through real nginx and real
// Caddy running the configs shipped in docs/proxies, and through Gatehouse's own reverse-proxy
// mode, to a real Express app that answers with the route it matched. The gate protects /admin
// (admins only) and makes everything else on the host public: the most dangerous shape, where any
// reading of /admin as something else opens it. The gate's verdict must never let an anonymous
// visitor, or a signed-in user outside admins, reach a request Express routes to /admin, and an
// ambiguous path (encoded slash or backslash, ";" parameter, encoded dot segment) is never public.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { freePort } from '../kit/http.ts';
import { addUser, gateConfig, type GatehouseProcess, startGatehouse } from '../kit/process.ts';
import { type ProxyProcess } from '../kit/proxies.ts';
import { startCaddyFromDocs, startNginxFromDocs } from '../kit/proxy-docs.ts';
import { signIn } from '../kit/sign-in.ts';
import { ambiguous, table } from '../fixtures/path-table.ts';

const PASSWORD = 'correct horse battery staple';
const APP = 'app.example.test';
const PROXIED = 'proxied.example.test';
const PORTAL = 'auth.example.test';

// ---- raw HTTP

interface Outcome {
  status: number;
  route: string | null;
}

/** One raw request line; the route Express reports when the app answered, otherwise null. */
function rawGet(port: number, host: string, target: string, cookie?: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.setEncoding('latin1');
    sock.setTimeout(15_000, () => sock.destroy(new Error(`timeout: ${target}`)));
    sock.on('data', (d: string) => {
      data += d;
    });
    sock.on('error', reject);
    sock.on('close', () => {
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0);
      const body = data.slice(data.indexOf('\r\n\r\n') + 4);
      const m = /"route":"(admin|public|other)"/.exec(body);
      resolve({ status, route: status === 200 && m ? (m[1] as string) : null });
    });
    sock.write(
      `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nAccept: text/html\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}Connection: close\r\n\r\n`,
      'latin1',
    );
  });
}

interface Summary {
  cases: number;
  appAdmin: number;
  appPublic: number;
  appOther: number;
  refused: Record<string, number>;
}

async function runTable(
  port: number,
  host: string,
  who: { name: string; cookie?: string },
): Promise<{ summary: Summary; leaks: string[] }> {
  const summary: Summary = { cases: 0, appAdmin: 0, appPublic: 0, appOther: 0, refused: {} };
  const leaks: string[] = [];
  for (const target of table()) {
    const o = await rawGet(port, host, target, who.cookie);
    summary.cases++;
    if (o.route !== null && who.cookie === undefined && ambiguous(target))
      leaks.push(`${who.name} ${target} -> an ambiguous path reached the app (${o.route})`);
    if (o.route === 'admin') {
      summary.appAdmin++;
      leaks.push(`${who.name} ${target} -> Express routed it to /admin (${o.status})`);
    } else if (o.route === 'public') summary.appPublic++;
    else if (o.route === 'other') summary.appOther++;
    else summary.refused[o.status] = (summary.refused[o.status] ?? 0) + 1;
  }
  return { summary, leaks };
}

// ---- the stack

describe('path differentials: the gate never opens what Express routes to /admin', () => {
  let server: Server;
  let express_: string;
  let gh: GatehouseProcess;
  let nginx: ProxyProcess;
  let caddy: ProxyProcess;
  let nginxPort = 0;
  let caddyPort = 0;
  let seenAdmin = 0;

  before(async () => {
    const app = express();
    app.use('/admin', (req, res) => {
      seenAdmin++;
      res.json({ route: 'admin', url: req.originalUrl });
    });
    app.use('/public', (req, res) => {
      res.json({ route: 'public', url: req.originalUrl });
    });
    app.use((req, res) => {
      res.json({ route: 'other', url: req.originalUrl });
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('express: no address');
    express_ = `127.0.0.1:${addr.port}`;
    nginxPort = await freePort();
    caddyPort = await freePort();
    gh = await startGatehouse(
      gateConfig({
        // Sign-in happens at the portal through nginx; the Caddy stack shares the same gate.
        publicUrl: `http://${PORTAL}:${nginxPort}`,
        apps: [
          `  - { name: admin-area, hosts: [${APP}], paths: [/admin], allow: { groups: [admins] } }`,
          `  - { name: site, hosts: [${APP}], public: true }`,
          `  - { name: proxied-admin, hosts: [${PROXIED}], paths: [/admin], allow: { groups: [admins] }, upstream: "http://${express_}" }`,
          `  - { name: proxied-site, hosts: [${PROXIED}], public: true, upstream: "http://${express_}" }`,
        ].join('\n'),
      }),
    );
    const gatehouse = `127.0.0.1:${gh.port}`;
    nginx = await startNginxFromDocs({ port: nginxPort, gatehouse, portalName: PORTAL, sites: [{ serverName: APP, upstream: express_ }] });
    caddy = await startCaddyFromDocs({ port: caddyPort, gatehouse, portalName: PORTAL, appNames: [APP], upstream: express_ });
    await addUser(gh, 'alice', PASSWORD, ['admins']);
    await addUser(gh, 'bob', PASSWORD, []);
  });
  after(async () => {
    await caddy?.stop();
    await nginx?.stop();
    await gh?.stop();
    await new Promise<void>((r) => {
      if (!server) {
        r();
        return;
      }
      server.closeAllConnections();
      server.close(() => r());
    });
  });

  async function cookieFor(user: string, port: number): Promise<string> {
    const portal = `http://${PORTAL}:${nginxPort}`;
    const { jar } = await signIn(portal, user, PASSWORD, `http://${APP}:${port}/`);
    // The session cookie is set for the portal's domain (example.test), so it goes to the app host too.
    const cookie = jar.header(`http://${APP}:${port}/`);
    assert.ok(cookie, `no cookie for ${APP}`);
    return cookie;
  }

  for (const kind of ['nginx', 'caddy', 'reverse-proxy mode'] as const) {
    test(`${kind}: anonymous and a non-admin never reach Express's /admin; an admin does`, async (t) => {
      const port = kind === 'nginx' ? nginxPort : kind === 'caddy' ? caddyPort : gh.port;
      const host = kind === 'reverse-proxy mode' ? PROXIED : APP;
      // The set-up works: an admin reaches /admin, anyone reaches /public.
      const alice = await cookieFor('alice', port);
      assert.deepEqual(await rawGet(port, `${host}:${port}`, '/admin/x', alice), { status: 200, route: 'admin' });
      assert.deepEqual(await rawGet(port, `${host}:${port}`, '/public/x'), { status: 200, route: 'public' });
      const before = seenAdmin;
      const bob = await cookieFor('bob', port);
      const anon = await runTable(port, `${host}:${port}`, { name: 'anonymous' });
      const low = await runTable(port, `${host}:${port}`, { name: 'bob', cookie: bob });
      assert.deepEqual([...anon.leaks, ...low.leaks], []);
      assert.equal(seenAdmin, before, "Express's /admin handler never ran for them");
      // The table is not vacuous: through this proxy, Express routes many of these encodings to
      // /admin (an admin gets there), so each refusal above is the gate's doing.
      const admin = await runTable(port, `${host}:${port}`, { name: 'alice', cookie: alice });
      t.diagnostic(
        `${kind}: ${anon.summary.cases} encodings; anonymous ${JSON.stringify(anon.summary)}; bob ${JSON.stringify(low.summary)}; alice (admin) ${JSON.stringify(admin.summary)}`,
      );
      assert.ok(admin.summary.appAdmin >= 30, `an admin reached Express's /admin through only ${admin.summary.appAdmin} encodings`);
      assert.ok(anon.summary.cases > 500, `${anon.summary.cases} cases`);
    });
  }
});
