// Gatehouse behind ingress-nginx as docs/proxies/ingress-nginx/ingress.yaml configures it. The
// controller cannot run here; its nginx can. This builds, in real nginx 1.22, the server block the
// controller's template renders for that Ingress (kubernetes/ingress-nginx
// rootfs/etc/nginx/template/nginx.tmpl: the external-auth location with X-Original-URL
// $scheme://$http_host$request_uri, X-Original-Method, X-Sent-From, X-Real-IP, X-Forwarded-For,
// X-Auth-Request-Redirect and proxy_pass_request_headers on, then the auth-proxy-set-headers
// ConfigMap; the app location with auth_request, the auth-response-headers, the controller's own
// X-Forwarded-* and the proxy-set-headers ConfigMap), with the annotation and ConfigMap values
// read from THAT file, and puts the real gate and a header-echoing app behind it.
// Simplified: the sign-in redirect (auth-signin, which needs the controller's set_escape_uri) is
// a plain 302; TLS, Lua and the default backend are left out (an unknown host gets 404).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { freePort, request } from '../kit/http.ts';
import { addUser, gateConfig, type GatehouseProcess, startGatehouse } from '../kit/process.ts';
import { type ProxyProcess, startNginx } from '../kit/proxies.ts';
import { until } from '../kit/poll.ts';
import { readDoc } from '../kit/proxy-docs.ts';
import { signIn } from '../kit/sign-in.ts';
import { carriesSpoof, GATE_HEADERS, IDENTITY_HEADERS, spellings, spoofValue } from '../kit/spoofing.ts';
import { type SeenRequest, startWhoami, type Whoami } from '../kit/whoami.ts';

const PASSWORD = 'correct horse battery staple';
const PORTAL = 'auth.example.test';

interface Shipped {
  authHeaders: Record<string, string>;
  cleanHeaders: Record<string, string>;
  responseHeaders: string[];
}

async function readShipped(): Promise<Shipped> {
  const docs = parseAllDocuments(await readDoc('ingress-nginx/ingress.yaml')).map(
    (d) =>
      d.toJS() as {
        kind: string;
        metadata: { name: string; namespace: string; annotations?: Record<string, string> };
        data?: Record<string, string>;
      },
  );
  const ingress = docs.find((d) => d.kind === 'Ingress' && d.metadata.annotations?.['nginx.ingress.kubernetes.io/auth-url'] !== undefined);
  assert.ok(ingress, 'an Ingress with auth-url');
  const a = ingress.metadata.annotations!;
  const ref = a['nginx.ingress.kubernetes.io/auth-proxy-set-headers'];
  const cm = (nsName: string | undefined) =>
    docs.find((d) => d.kind === 'ConfigMap' && `${d.metadata.namespace}/${d.metadata.name}` === nsName)?.data ?? {};
  return {
    authHeaders: cm(ref),
    // Named by the controller's own ConfigMap (proxy-set-headers), as the file's comment says.
    cleanHeaders: cm('ingress-nginx/gatehouse-clean-headers'),
    responseHeaders: (a['nginx.ingress.kubernetes.io/auth-response-headers'] ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter((h) => h !== ''),
  };
}

function serverBlock(port: number, gate: string, app: string, names: string, s: Shipped): string {
  const q = (v: string) => `"${v.replaceAll('"', '\\"')}"`;
  return `
server {
    listen ${port};
    server_name ${names};

    location = /_external-auth-Lw {
        internal;
        proxy_pass_request_body     off;
        proxy_set_header            Content-Length "";
        proxy_set_header            Host                    ${gate.split(':')[0]};
        proxy_set_header            X-Original-URL          $scheme://$http_host$request_uri;
        proxy_set_header            X-Original-Method       $request_method;
        proxy_set_header            X-Sent-From             "nginx-ingress-controller";
        proxy_set_header            X-Real-IP               $remote_addr;
        proxy_set_header            X-Forwarded-For         $remote_addr;
        proxy_set_header            X-Auth-Request-Redirect $request_uri;
        proxy_http_version          1.1;
        proxy_pass_request_headers  on;
${Object.entries(s.authHeaders)
  .map(([k, v]) => `        proxy_set_header ${k} ${q(v)};`)
  .join('\n')}
        proxy_pass http://${gate}/oauth2/auth;
    }

    location / {
        auth_request        /_external-auth-Lw;
        auth_request_set    $auth_cookie $upstream_http_set_cookie;
        add_header          Set-Cookie $auth_cookie;
${s.responseHeaders.map((h, i) => `        auth_request_set $authHeader${i} $upstream_http_${h.toLowerCase().replaceAll('-', '_')};\n        proxy_set_header '${h}' $authHeader${i};`).join('\n')}
        error_page 401 = @signin;

        proxy_set_header Host                   $http_host;
        proxy_set_header X-Request-ID           $request_id;
        proxy_set_header X-Real-IP              $remote_addr;
        proxy_set_header X-Forwarded-For        $remote_addr;
        proxy_set_header X-Forwarded-Host       $http_host;
        proxy_set_header X-Forwarded-Port       $server_port;
        proxy_set_header X-Forwarded-Proto      $scheme;
        proxy_set_header X-Scheme               $scheme;
        proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;
        proxy_set_header Proxy                  "";
${Object.entries(s.cleanHeaders)
  .map(([k, v]) => `        proxy_set_header ${k} ${q(v)};`)
  .join('\n')}
        proxy_pass http://${app};
    }

    location @signin {
        return 302 http://${PORTAL}:${port}/oauth2/start?rd=$scheme://$host$request_uri;
    }
}
`;
}

function raw(port: number, head: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      data += d;
    });
    sock.on('error', reject);
    sock.on('close', () => resolve({ status: Number(data.split(' ')[1] ?? 0), body: data.split('\r\n\r\n')[1] ?? '' }));
    sock.write(`${head.join('\r\n')}\r\n\r\n`);
  });
}

describe('Gatehouse behind ingress-nginx as docs/proxies/ingress-nginx/ingress.yaml sets it (its template in real nginx)', () => {
  let port = 0;
  let gh: GatehouseProcess;
  let app: Whoami;
  let shipped: Shipped;
  let bobCookie = '';
  const proxies: ProxyProcess[] = [];
  const url = (host: string, p: string) => `http://${host}:${port}${p}`;

  /** nginx with the rendered Ingress for the app hosts and the public host, the portal as a plain pass-through. */
  async function startIngress(s: Shipped, listen: number): Promise<ProxyProcess> {
    const conf = [
      `server { listen ${listen} default_server; server_name _; return 404; }`,
      serverBlock(listen, `127.0.0.1:${gh.port}`, app.address, 'app.example.test', s),
      serverBlock(listen, `127.0.0.1:${gh.port}`, app.address, 'pub.example.test', s),
      `server { listen ${listen}; server_name ${PORTAL}; location / { proxy_pass http://127.0.0.1:${gh.port}; proxy_set_header Host $http_host;` +
        ' proxy_set_header X-Forwarded-Host $http_host; proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-For $remote_addr; } }',
    ].join('\n');
    const p = await startNginx(conf, { port: listen });
    proxies.push(p);
    return p;
  }

  before(async () => {
    port = await freePort();
    app = await startWhoami();
    gh = await startGatehouse(
      gateConfig({
        publicUrl: `http://${PORTAL}:${port}`,
        trustedProxies: '[{ cidr: 127.0.0.0/8, kind: nginx }]',
        apps: [
          '  - { name: public-api, hosts: [app.example.test], paths: [/adsb/*], public: true }',
          '  - { name: pub, hosts: [pub.example.test], public: true }',
          '  - { name: app, hosts: [app.example.test], allow: { groups: [admins] } }',
        ].join('\n'),
      }),
    );
    shipped = await readShipped();
    await startIngress(shipped, port);
    await addUser(gh, 'bob', PASSWORD, []);
    const { jar } = await signIn(`http://${PORTAL}:${port}`, 'bob', PASSWORD, url('app.example.test', '/'));
    bobCookie = jar.header(url('app.example.test', '/'))!;
  });
  after(async () => {
    for (const p of proxies) await p.stop();
    await gh?.stop();
    await app?.stop();
  });

  test('the shipped file sends X-Forwarded-Host $host beside X-Original-URL and clears the other headers', () => {
    assert.equal(shipped.authHeaders['X-Forwarded-Host'], '$host');
    for (const h of ['X-Forwarded-Uri', 'X-Forwarded-Method', 'Forwarded']) assert.equal(shipped.authHeaders[h], '', h);
    assert.deepEqual(shipped.responseHeaders, [
      'X-Auth-Request-User',
      'X-Auth-Request-Email',
      'X-Auth-Request-Groups',
      'X-Auth-Request-Preferred-Username',
    ]);
  });

  test("ingress-nginx's own combination works: anonymous 302, bob 403, a public path 200 — also behind a TLS balancer's X-Forwarded-Proto", async () => {
    for (const extra of [{}, { 'X-Forwarded-Proto': 'https' }] as Array<Record<string, string>>) {
      const anon = await request(url('app.example.test', '/private/x'), { headers: { Accept: 'text/html', ...extra } });
      assert.equal(anon.status, 302);
      assert.equal((await request(url('app.example.test', '/private/x'), { headers: { Cookie: bobCookie, ...extra } })).status, 403);
      assert.equal((await request(url('app.example.test', '/adsb/x'), { headers: extra })).status, 200);
    }
  });

  test("an absolute-form request line naming the protected host with a public Host is refused; without the ConfigMap's X-Forwarded-Host it got in", async () => {
    const attack = (p: number) => [
      `GET http://app.example.test:${p}/private/x HTTP/1.1`,
      `Host: pub.example.test:${p}`,
      'Connection: close',
    ];
    const n = app.seen.length;
    const r = await raw(port, attack(port));
    assert.equal(r.status, 403, 'the gate refuses the disagreement with 403, which nginx relays');
    assert.equal(app.seen.length, n, 'the app never saw it');
    // The process writes its log line around the answer: wait for it on its output.
    await until(() => /describe different requests \(host\)/.test(gh.logs()), { timeoutMs: 5000, what: 'the gate logs the disagreement' });
    // The control: the same Ingress without X-Forwarded-Host in the auth ConfigMap.
    const bare = await freePort();
    const { 'X-Forwarded-Host': _dropped, ...rest } = shipped.authHeaders;
    await startIngress({ ...shipped, authHeaders: rest }, bare);
    const leak = await raw(bare, attack(bare));
    assert.equal(leak.status, 200, 'ingress-nginx alone judges the raw Host header');
  });

  test('client copies of every gate and identity header: same decision, nothing reaches the app', async () => {
    const names = [...GATE_HEADERS, ...IDENTITY_HEADERS].flatMap(spellings);
    let tried = 0;
    for (const target of [url('app.example.test', '/private/x'), url('app.example.test', '/adsb/x')]) {
      for (const cookie of [undefined, bobCookie]) {
        const run = async (extra: Array<[string, string]>) => {
          const n = app.seen.length;
          const res = await request(target, {
            headers: [['Accept', 'text/html'], ...(cookie ? [['Cookie', cookie] as [string, string]] : []), ...extra],
          });
          tried++;
          const seen: SeenRequest | undefined = app.seen.length > n ? app.seen.at(-1) : undefined;
          // X-Original-Forwarded-For is the controller's own copy of the client's X-Forwarded-For, by design.
          const leaked = (seen?.headers ?? []).filter(
            ([k, v]) =>
              !/^x-original-forwarded-for$/i.test(k) && (carriesSpoof(v) || /^(x[-_]original[-_](url|method|uri)|forwarded)$/i.test(k)),
          );
          assert.deepEqual(leaked, [], `${target}: reached the app`);
          // X-Forwarded-Proto from a client is a balancer's to the gate (not compared): same decision.
          return `${res.status} ${
            seen === undefined
              ? '-'
              : seen.headers
                  .filter(([k]) => /^x-auth-request-user$/i.test(k))
                  .map(([, v]) => v)
                  .join()
          }`;
        };
        const expected = await run([]);
        for (const name of names)
          assert.equal(await run([[name, spoofValue(name, port)]]), expected, `${target} ${cookie ? 'bob' : 'anonymous'}: ${name}`);
        assert.equal(await run(names.map((n): [string, string] => [n, spoofValue(n, port)])), expected, `${target}: all at once`);
      }
    }
    console.log(`ingress-nginx (template in nginx): ${tried} spoofed requests tried`);
  });
});
