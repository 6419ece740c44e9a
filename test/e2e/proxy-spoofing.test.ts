// Client-sent copies of every header the gate reads and of every identity header name, through
// the nginx and Caddy configs shipped in docs/proxies/ (loaded as shipped) in front of the real
// gate and a header-echoing app: none may change the decision or reach the app. Then request
// lines and Host headers that name another host than the one the proxy routes on.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type HttpResponse, request } from '../kit/http.ts';
import { addUser } from '../kit/process.ts';
import { signIn } from '../kit/sign-in.ts';
import { carriesSpoof, GATE_HEADERS, IDENTITY_HEADERS, PROXY_HEADERS, spellings, spoofValue } from '../kit/spoofing.ts';
import { type Stack, startStack } from '../kit/stack.ts';
import { type SeenRequest } from '../kit/whoami.ts';

const PASSWORD = 'correct horse battery staple';
/** What the client sees, reduced to what decides: status, where it is sent, and who the app thinks it is. */
function verdict(res: HttpResponse, seen: SeenRequest | undefined): string {
  const user = seen?.headers
    .filter(([k]) => k.toLowerCase() === 'x-auth-request-user')
    .map(([, v]) => v)
    .join(',');
  return `${res.status} ${res.headers.location ?? ''} ${seen === undefined ? 'app:-' : `app:${seen.url} user:${user}`}`;
}

/** The app must see none of the client's copies: no marked value, no proxy-only header a proxy does not send to apps. */
function assertNothingReached(seen: SeenRequest | undefined, what: string): void {
  if (seen === undefined) return;
  const leaked = seen.headers.filter(
    ([k, v]) =>
      carriesSpoof(v) ||
      /^(x[-_]original[-_]|forwarded$|x[-_]forwarded[-_](uri|method|prefix)$)/i.test(k) ||
      (/^x[-_]forwarded[-_]proto$/i.test(k) && v !== 'http'),
  );
  assert.deepEqual(leaked, [], `${what}: reached the app`);
}

for (const kind of ['nginx', 'caddy'] as const) {
  describe(`client copies of gate and identity headers through docs/proxies/${kind}`, () => {
    let s: Stack;
    let bobCookie = '';
    let tried = 0;

    before(async () => {
      s = await startStack(kind, {
        // The default plain list (kind auto): the strictest reader of both header families, so a
        // client copy that reaches the gate beside the proxy's own description is a refusal, and
        // every strip in the shipped files is load-bearing here.
        apps: [
          '  - { name: public-api, hosts: [api.example.test, app.example.test], paths: [/adsb/*], public: true }',
          '  - { name: pub, hosts: [pub.example.test], public: true }',
          '  - { name: app, hosts: [app.example.test, app2.other.test], allow: { groups: [admins] } }',
          '  - { name: api, hosts: [api.example.test], allow: { groups: [admins] } }',
        ].join('\n'),
        moreSites: ['pub.example.test'],
      });
      await addUser(s.gh, 'bob', PASSWORD, []);
      const { jar } = await signIn(s.portal, 'bob', PASSWORD, s.url('app.example.test', '/'));
      bobCookie = jar.header(s.url('app.example.test', '/'))!;
    });
    after(async () => {
      console.log(`${kind}: ${tried} spoofed requests tried`);
      await s?.stop();
    });

    const targets = () => [
      { name: 'a protected path', url: s.url('app.example.test', '/private/x?q=1'), app: true },
      { name: 'a public path', url: s.url('app.example.test', '/adsb/feed?q=1'), app: true },
      {
        name: "the portal's /oauth2/sign_in",
        url: `${s.portal}/oauth2/sign_in?rd=${encodeURIComponent(s.url('app.example.test', '/'))}`,
        app: false,
      },
      {
        name: '/oauth2/start on an app host',
        url: s.url('app.example.test', `/oauth2/start?rd=${encodeURIComponent(s.url('app.example.test', '/private'))}`),
        app: false,
      },
    ];

    test('each spoofed header, in every spelling, alone and all together: same decision, nothing reaches the app', async () => {
      const names = [...GATE_HEADERS, ...IDENTITY_HEADERS, ...PROXY_HEADERS].flatMap(spellings);
      assert.ok(names.length > 150, String(names.length));
      for (const target of targets()) {
        for (const who of ['anonymous', 'bob'] as const) {
          const base: Array<[string, string]> = [['Accept', 'text/html']];
          if (who === 'bob') base.push(['Cookie', bobCookie]);
          const send = async (extra: Array<[string, string]>, label: string) => {
            const n = s.app.seen.length;
            const res = await request(target.url, { headers: [...base, ...extra] });
            tried++;
            const seen = s.app.seen.length > n ? s.app.seen.at(-1) : undefined;
            assertNothingReached(seen, `${target.name}, ${who}, ${label}`);
            return verdict(res, seen);
          };
          const expected = await send([], 'no spoof');
          for (const name of names) {
            assert.equal(
              await send([[name, spoofValue(name, s.port)]], name),
              expected,
              `${target.name}, ${who}: ${name} changed the decision`,
            );
          }
          const all = names.map((n): [string, string] => [n, spoofValue(n, s.port)]);
          assert.equal(await send(all, 'all at once'), expected, `${target.name}, ${who}: all spoofs together changed the decision`);
        }
      }
    });

    test('the baseline decisions are the ones the rules say', async () => {
      const [prot, pub, portal, start] = targets();
      const anon = await request(prot!.url, { headers: { Accept: 'text/html' } });
      assert.equal(anon.status, 302);
      assert.ok(anon.headers.location?.startsWith(`${s.portal}/oauth2/start?rd=`));
      assert.equal((await request(prot!.url, { headers: { Accept: 'text/html', Cookie: bobCookie } })).status, 403);
      assert.equal((await request(pub!.url, { headers: { Accept: 'text/html' } })).status, 200);
      assert.equal((await request(portal!.url, { headers: { Accept: 'text/html' } })).status, 200);
      // Through nginx, /oauth2/ on an app host is routed to the gate; through Caddy it is a gate
      // path that forward auth passes to the app (only /oauth2/ticket is answered by the gate).
      assert.equal(
        (await request(start!.url, { headers: { Accept: 'text/html', Cookie: bobCookie } })).status,
        kind === 'nginx' ? 302 : 200,
      );
    });

    describe('request lines and Host headers that name another host than the routed one', () => {
      let cases = 0;
      after(() => {
        console.log(`${kind}: ${cases} request-line/Host cases tried`);
      });

      test('an absolute-form request line is judged on the host it names, whatever Host says', async () => {
        const hosts = ['pub.example.test', 'auth.example.test', 'api.example.test', 'unknown.example.test', '127.0.0.1'];
        for (const cookie of [undefined, bobCookie]) {
          for (const fake of hosts) {
            for (const path of ['/private/x', '/oauth2/start', '/adsb/../private']) {
              const n = s.app.seen.length;
              const r = await raw(s.port, [
                `GET http://app.example.test:${s.port}${path} HTTP/1.1`,
                `Host: ${fake}:${s.port}`,
                'Accept: text/html',
                ...(cookie !== undefined ? [`Cookie: ${cookie}`] : []),
                'Connection: close',
              ]);
              cases++;
              const what = `GET http://app.example.test${path} with Host ${fake}, ${cookie === undefined ? 'anonymous' : 'bob'}`;
              if (path === '/oauth2/start') {
                assert.equal(r.status, kind === 'nginx' ? 302 : 200, what);
                continue;
              }
              assert.equal(s.app.seen.length, n, `${what}: reached the app (${r.status})`);
              if (cookie === undefined) {
                assert.equal(r.status, 302, what);
                assert.ok(
                  (r.headers.location ?? '').startsWith(
                    `${s.portal}/oauth2/start?rd=${encodeURIComponent(`http://app.example.test:${s.port}/`)}`,
                  ),
                  `${what}: ${r.headers.location}`,
                );
              } else {
                assert.equal(r.status, 403, what);
              }
            }
          }
        }
        // And the other way round: the public site named in the request line is public.
        const r = await raw(s.port, [
          `GET http://pub.example.test:${s.port}/x HTTP/1.1`,
          `Host: app.example.test:${s.port}`,
          'Connection: close',
        ]);
        cases++;
        assert.equal(r.status, 200);
      });

      test('a Host no site serves, a raw IP, or none at all never reaches an app', async () => {
        const lines: Array<[string, string[]]> = [
          ['unknown host', ['GET /private/x HTTP/1.1', `Host: unknown.example.test:${s.port}`]],
          ['raw IP', ['GET /private/x HTTP/1.1', `Host: 127.0.0.1:${s.port}`]],
          ['no Host, HTTP/1.0', ['GET /private/x HTTP/1.0']],
          ['no Host, HTTP/1.1', ['GET /private/x HTTP/1.1']],
          ['empty Host', ['GET /private/x HTTP/1.1', 'Host: ']],
          ['a public host name with a trailing dot', ['GET /x HTTP/1.1', `Host: pub.example.test.:${s.port}`]],
          ['two Host headers', ['GET /private/x HTTP/1.1', `Host: pub.example.test:${s.port}`, `Host: app.example.test:${s.port}`]],
          [
            'protected name in Host, public in X-Forwarded-Host',
            ['GET /private/x HTTP/1.1', `Host: app.example.test:${s.port}`, `X-Forwarded-Host: pub.example.test:${s.port}`],
          ],
        ];
        for (const [what, head] of lines) {
          const n = s.app.seen.length;
          const r = await raw(s.port, [...head, 'Connection: close']);
          cases++;
          if (what === 'a public host name with a trailing dot') continue; // routed or not, it is public: nothing to leak
          if (what.startsWith('protected name in Host')) {
            assert.equal(r.status, 401, what);
            continue;
          }
          assert.equal(s.app.seen.length, n, `${what}: reached the app (${r.status})`);
          assert.ok(r.status >= 400 || r.status === 0 || (kind === 'caddy' && r.status === 200 && r.body === ''), `${what}: ${r.status}`);
          if (kind === 'nginx' && (what === 'unknown host' || what === 'raw IP' || what === 'no Host, HTTP/1.0'))
            assert.equal(r.status, 421, what);
        }
      });
    });
  });
}

/** One request written byte for byte (so the request line and Host can disagree); reads until the server closes. */
function raw(port: number, head: string[]): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.setEncoding('utf8');
    sock.setTimeout(15_000, () => sock.destroy(new Error('timed out')));
    sock.on('data', (d: string) => {
      data += d;
    });
    sock.on('error', reject);
    sock.on('close', () => {
      const [top = '', body = ''] = data.split('\r\n\r\n', 2);
      const [statusLine = '', ...lines] = top.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body });
    });
    sock.write(`${head.join('\r\n')}\r\n\r\n`);
  });
}
