// Soak (`npm run soak`, issue 9): a real `gatehouse serve` process under a stream of unique junk
// values for SOAK_MINUTES (default 10), its resident memory sampled every SOAK_SAMPLE_S seconds.
// Every request carries values the process has never seen:
//   - forward auth with a junk session cookie (well-formed base64url, sealed-cookie length)
//   - forward auth for a protected resource with a junk bearer token (a well-formed JWT)
//   - forward auth with a junk X-Forwarded-For hop
//   - a sign-in POST with a junk username from a junk address (throttle entries, password checks),
//     on two workers of their own; another with a junk login-state cookie
//   - an authorization request with a junk client_id, and a token request with junk client credentials
//   - a junk login-state cookie and a junk rd on the sign-in page
// A signed-in user is checked throughout: the soak fails if the live session stops working or
// the process exits. Prints a table of samples (resident memory from /proc; V8 heap in use and
// committed, and memory outside the heap, from Gatehouse's /metrics) and a JSON summary
// (bench/results/soak.json).
//
// Knobs (environment): SOAK_MINUTES (10), SOAK_CONCURRENCY (8 connections), SOAK_SIGNIN_WORKERS
// (2 of them sending sign-ins; 0 for none, all for sign-ins only), SOAK_SAMPLE_S (10),
// SOAK_MAX_RSS_MIB (fail when resident memory passes it; unset: report only).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { addUser, gateConfig, startGatehouse } from '../test/kit/process.ts';
import { mintSessions } from './mint-sessions.ts';
import { resourcesYaml, RESOURCE } from './issuer.ts';
import { here } from './stages.ts';

const MINUTES = Number(process.env.SOAK_MINUTES ?? '10');
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? '8');
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_S ?? '10');
const SIGN_IN_WORKERS = Number(process.env.SOAK_SIGNIN_WORKERS ?? '2');
/** Fail the soak when resident memory passes this (MiB); unset: report only. */
const MAX_RSS_MIB = process.env.SOAK_MAX_RSS_MIB === undefined ? undefined : Number(process.env.SOAK_MAX_RSS_MIB);
const PORTAL = 'auth.example.test';
const PASSWORD = 'soak-password-not-secret';

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return +(Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024).toFixed(1);
}

/** V8 heap in use and memory outside it (buffers), from Gatehouse's own /metrics (its process metrics); undefined when not served. */
async function heap(port: number): Promise<{ heapMiB: number; heapTotalMiB: number; externalMiB: number } | undefined> {
  const text = await new Promise<string>((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (d: string) => {
            body += d;
          })
          .on('end', () => resolve(res.statusCode === 200 ? body : ''));
      })
      .on('error', () => resolve(''));
  });
  const val = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const h = val('nodejs_heap_size_used_bytes');
  const mib = (n: number) => +(n / 2 ** 20).toFixed(1);
  return Number.isNaN(h)
    ? undefined
    : { heapMiB: mib(h), heapTotalMiB: mib(val('nodejs_heap_size_total_bytes')), externalMiB: mib(val('nodejs_external_memory_bytes')) };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY + 2 });

function send(port: number, method: string, p: string, headers: Record<string, string>, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h['content-length'] = String(Buffer.byteLength(body));
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: h, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const b64 = (n: number) => randomBytes(n).toString('base64url');
const junkJwt = () =>
  `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: b64(6) })).toString('base64url')}.${Buffer.from(JSON.stringify({ sub: b64(9), aud: RESOURCE, exp: 4102444800, client_id: b64(9) })).toString('base64url')}.${b64(64)}`;

async function main(): Promise<void> {
  const resourceHost = new URL(RESOURCE).host;
  // perAddress is lifted so every junk sign-in reaches the password check and the throttle's maps
  // (from one loopback address the per-address limit would otherwise stop them after 20).
  if (!(CONCURRENCY >= 1 && SIGN_IN_WORKERS >= 0 && SIGN_IN_WORKERS <= CONCURRENCY))
    throw new Error('SOAK_SIGNIN_WORKERS must be between 0 and SOAK_CONCURRENCY');
  const gh = await startGatehouse(
    `${gateConfig({ publicUrl: `http://${PORTAL}`, extra: 'signIn: { throttle: { perAddress: 1000000000 } }' })}\n${resourcesYaml}\n`,
    {
      // What `npm start` and the shebang run with (bin/gatehouse.js).
      env: { NODE_OPTIONS: '--max-semi-space-size=4', MALLOC_MMAP_THRESHOLD_: '1048576' },
    },
  );
  let failure: string | undefined;
  const samples: { minute: number; rssMiB: number; heapMiB?: number; heapTotalMiB?: number; externalMiB?: number; requests: number }[] = [];
  try {
    await addUser(gh, 'alice', PASSWORD, ['admins']);
    // The cookie name, from the sign-in page's login-state cookie; a session made the way a
    // sign-in makes it (bench/mint-sessions.ts), so no password hash runs before the soak.
    const page = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: gh.port, path: '/oauth2/sign_in', headers: { host: PORTAL } }, (res) => {
          res.resume();
          resolve(res);
        })
        .on('error', reject);
    });
    const login = (page.headers['set-cookie'] ?? []).find((c) => /^[^=]+_login=/.test(c));
    if (login === undefined) throw new Error(`the sign-in page set no login-state cookie (${page.statusCode})`);
    const cookieName = login.slice(0, login.indexOf('_login='));
    const [sessionCookie] = (await mintSessions(gh.dataDir, cookieName, 1)) as [string];
    // A live sign-in form (login-state cookie and its CSRF token), so junk sign-ins get as far as
    // the password check; fetched again when it expires.
    let form = { cookie: '', csrf: '' };
    const freshForm = async (): Promise<void> => {
      const r = await new Promise<{ res: http.IncomingMessage; body: string }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: gh.port, path: '/oauth2/sign_in', headers: { host: PORTAL } }, (res) => {
            let body = '';
            res
              .setEncoding('utf8')
              .on('data', (d: string) => {
                body += d;
              })
              .on('end', () => resolve({ res, body }));
          })
          .on('error', reject);
      });
      const c = (r.res.headers['set-cookie'] ?? []).find((x) => x.startsWith(`${cookieName}_login=`));
      const csrf = /name="csrf" value="([^"]*)"/.exec(r.body)?.[1];
      if (c === undefined || csrf === undefined) throw new Error('no sign-in form');
      form = { cookie: c.slice(0, c.indexOf(';')), csrf };
    };
    await freshForm();
    let formAt = Date.now();
    const fa = (extra: Record<string, string>) => ({
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'app.example.test',
      'x-forwarded-uri': '/',
      'x-forwarded-method': 'GET',
      ...extra,
    });
    const live = async (): Promise<void> => {
      const s = await send(gh.port, 'GET', '/oauth2/auth', fa({ cookie: sessionCookie }));
      if (s !== 202) throw new Error(`the live session answered ${s}, not 202`);
    };
    await live();

    // A sign-in waits for its password check (argon2id, one thread), so it gets workers of its own.
    const signInKind = async (): Promise<number> => {
      if (Date.now() - formAt > 60_000) {
        formAt = Date.now();
        await freshForm();
      }
      return send(
        gh.port,
        'POST',
        '/oauth2/sign_in',
        {
          host: PORTAL,
          'content-type': 'application/x-www-form-urlencoded',
          cookie: form.cookie,
          'x-forwarded-for': `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${randomBytes(1)[0]}`,
        },
        new URLSearchParams({ username: `u${b64(12)}`, password: 'x', csrf: form.csrf, rd: '/' }).toString(),
      );
    };
    const kinds: Array<() => Promise<number>> = [
      () => send(gh.port, 'GET', '/oauth2/auth', fa({ cookie: `${cookieName}=${b64(110)}`, accept: 'text/html' })),
      () =>
        send(gh.port, 'GET', '/oauth2/auth', {
          'x-forwarded-proto': 'https',
          'x-forwarded-host': resourceHost,
          'x-forwarded-uri': new URL(RESOURCE).pathname,
          authorization: `Bearer ${junkJwt()}`,
        }),
      () => send(gh.port, 'GET', '/oauth2/auth', fa({ 'x-forwarded-for': `${b64(12)}, 203.0.${randomBytes(1)[0]}.${randomBytes(1)[0]}` })),
      () =>
        send(
          gh.port,
          'POST',
          '/oauth2/sign_in',
          { host: PORTAL, 'content-type': 'application/x-www-form-urlencoded', cookie: `${cookieName}_login=${b64(90)}` },
          new URLSearchParams({ username: `u${b64(12)}`, password: 'x', csrf: b64(20), rd: '/' }).toString(),
        ),
      () =>
        send(
          gh.port,
          'GET',
          `/oidc/auth?client_id=${b64(16)}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(`https://${b64(8)}.example.test/cb`)}`,
          { host: PORTAL },
        ),
      () =>
        send(
          gh.port,
          'POST',
          '/oidc/token',
          {
            host: PORTAL,
            'content-type': 'application/x-www-form-urlencoded',
            authorization: `Basic ${Buffer.from(`${b64(12)}:${b64(12)}`).toString('base64')}`,
          },
          'grant_type=client_credentials',
        ),
      () =>
        send(gh.port, 'GET', `/oauth2/sign_in?rd=${encodeURIComponent(`http://${b64(10)}.example.test/${b64(20)}`)}`, {
          host: PORTAL,
          cookie: `${cookieName}_login=${b64(90)}; ${cookieName}=${b64(110)}`,
        }),
    ];
    const statuses = new Map<number, number>();
    let requests = 0;
    const until = Date.now() + MINUTES * 60_000;
    const start = Date.now();
    let stop = false;
    const worker = async (w: number): Promise<void> => {
      let i = w;
      while (!stop && Date.now() < until) {
        const s = await (w < SIGN_IN_WORKERS ? signInKind : (kinds[i++ % kinds.length] as () => Promise<number>))();
        statuses.set(s, (statuses.get(s) ?? 0) + 1);
        requests++;
        if (s >= 500 && s !== 503) throw new Error(`a junk request answered ${s}`);
      }
    };
    const sampler = (async () => {
      samples.push({ minute: 0, rssMiB: await rssMiB(gh.pid), requests: 0 });
      while (!stop && Date.now() < until) {
        await new Promise((r) => setTimeout(r, SAMPLE_S * 1000));
        await live();
        const row = {
          minute: +((Date.now() - start) / 60_000).toFixed(2),
          rssMiB: await rssMiB(gh.pid),
          ...(await heap(gh.port)),
          requests,
        };
        samples.push(row);
        if (MAX_RSS_MIB !== undefined && row.rssMiB > MAX_RSS_MIB)
          throw new Error(`resident memory ${row.rssMiB} MiB passed SOAK_MAX_RSS_MIB=${MAX_RSS_MIB}`);
        console.log(
          `${row.minute.toFixed(2).padStart(6)} min  rss ${String(row.rssMiB).padStart(6)} MiB  heap ${String(row.heapMiB ?? '-').padStart(6)} of ${String(row.heapTotalMiB ?? '-').padStart(6)} MiB  external ${String(row.externalMiB ?? '-').padStart(5)} MiB  ${row.requests} requests`,
        );
      }
    })();
    try {
      await Promise.all([...Array.from({ length: CONCURRENCY }, (_, w) => worker(w)), sampler]);
    } finally {
      stop = true;
    }
    await live();
    const afterWarmup = samples.filter((s) => s.minute >= 1);
    const summary = {
      minutes: MINUTES,
      concurrency: CONCURRENCY,
      requests,
      statuses: Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])),
      rssMiB: {
        start: samples[0]?.rssMiB,
        end: samples.at(-1)?.rssMiB,
        max: Math.max(...samples.map((s) => s.rssMiB)),
        minAfterFirstMinute: afterWarmup.length ? Math.min(...afterWarmup.map((s) => s.rssMiB)) : undefined,
        maxAfterFirstMinute: afterWarmup.length ? Math.max(...afterWarmup.map((s) => s.rssMiB)) : undefined,
      },
      samples,
    };
    console.log(JSON.stringify({ ...summary, samples: undefined }, null, 2));
    await mkdir(path.join(here, 'results'), { recursive: true });
    await writeFile(path.join(here, 'results', 'soak.json'), JSON.stringify(summary, null, 2));
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  } finally {
    agent.destroy();
    await gh.stop();
  }
  if (failure) {
    console.error(`soak failed: ${failure}\n${gh.logs().slice(-3000)}`);
    process.exitCode = 1;
  }
}

await main();
