// The one HTTP client of the suites: a request over a fresh loopback connection (no redirects
// followed, odd header spellings kept as sent), a cookie jar with RFC 6265 domain and path
// matching, and redirect-following on top of both.
import http from 'node:http';
import net from 'node:net';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  /** The Set-Cookie lines, in order (empty when none). */
  setCookies: string[];
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string> | Array<[string, string]>;
  body?: string;
  /** Connect here instead of the URL's host (the URL's host:port still goes in the Host header). */
  connectTo?: { host: string; port: number };
  /** Give up after this long (15 s unless told). */
  timeoutMs?: number;
  /** The request target exactly as sent (dot segments, odd bytes and all) instead of the URL's path and query. */
  rawPath?: string;
  /** A keep-alive agent (pinnedConnection), so the request goes over that agent's one connection. */
  agent?: http.Agent;
}

/**
 * One HTTP request without following redirects. The connection goes to 127.0.0.1 on the URL's
 * port (every test host name resolves to loopback) unless `connectTo` says otherwise; the Host
 * header is the URL's host unless `headers` sets one. Header arrays keep odd spellings as sent.
 * No keep-alive agent: a server's close() never waits on the suite.
 */
export function request(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const headerList: Array<[string, string]> = Array.isArray(opts.headers) ? [...opts.headers] : Object.entries(opts.headers ?? {});
  if (!headerList.some(([k]) => k.toLowerCase() === 'host')) headerList.unshift(['Host', u.host]);
  if (opts.body !== undefined && !headerList.some(([k]) => k.toLowerCase() === 'content-length')) {
    headerList.push(['Content-Length', String(Buffer.byteLength(opts.body))]);
  }
  const flat: string[] = [];
  for (const [k, v] of headerList) flat.push(k, v);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: opts.connectTo?.host ?? '127.0.0.1',
        port: opts.connectTo?.port ?? (u.port === '' ? 80 : Number(u.port)),
        method: opts.method ?? 'GET',
        path: opts.rawPath ?? `${u.pathname}${u.search}`,
        headers: flat,
        setHost: false,
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            setCookies: res.headers['set-cookie'] ?? [],
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.end(opts.body);
  });
}

/**
 * request() to an in-process server on 127.0.0.1:port with this exact request target, with
 * `Connection: close` (so close() never waits on the suite). The Host header is whatever
 * `headers` says (127.0.0.1:port unless told).
 */
export function send(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<HttpResponse> {
  return request(`http://127.0.0.1:${port}/`, {
    method: opts.method ?? 'GET',
    rawPath: opts.path,
    headers: { connection: 'close', ...opts.headers },
    ...(opts.body === undefined ? {} : { body: opts.body }),
  });
}

/**
 * One kept-alive connection: every request through `agent` goes over the same socket, so to
 * the same process behind a shared listener (`serve --workers`). close() ends it.
 */
export function pinnedConnection(): { agent: http.Agent; close(): void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
  return { agent, close: () => agent.destroy() };
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it; closed again before returning). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        reject(new Error('no port'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

/** Whether 127.0.0.1:port accepts a TCP connection now. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** The value of `name=` in a list of Set-Cookie headers, or undefined. */
export function cookieValue(setCookies: string[], name: string): string | undefined {
  for (const c of setCookies) {
    if (c.startsWith(`${name}=`)) return c.slice(name.length + 1, c.indexOf(';') < 0 ? undefined : c.indexOf(';'));
  }
  return undefined;
}

/** The whole Set-Cookie line for `name`, or undefined. */
export function setCookieFor(setCookies: string[], name: string): string | undefined {
  return setCookies.find((c) => c.startsWith(`${name}=`));
}

interface StoredCookie {
  name: string;
  value: string;
  domain: string;
  hostOnly: boolean;
  path: string;
}

/**
 * A minimal cookie jar (RFC 6265 §5.3 domain and path matching; no expiry clock beyond
 * Max-Age<=0 and past Expires; a cookie set to an empty value is dropped).
 */
export class CookieJar {
  cookies: StoredCookie[] = [];

  /** Stores the Set-Cookie headers of a response to `url`. */
  store(url: string, res: { headers: http.IncomingHttpHeaders }): void {
    const u = new URL(url);
    const host = u.hostname;
    // RFC 6265 §5.1.4: without a Path attribute, the directory of the request's path.
    const defaultPath = u.pathname.lastIndexOf('/') > 0 ? u.pathname.slice(0, u.pathname.lastIndexOf('/')) : '/';
    const list = res.headers['set-cookie'] ?? [];
    for (const line of list) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let domain = host;
      let hostOnly = true;
      let cookiePath = defaultPath;
      let expired = value === '';
      for (const a of attrs) {
        const [k = '', ...rest] = a.split('=');
        const key = k.trim().toLowerCase();
        const val = rest.join('=').trim();
        if (key === 'domain' && val !== '') {
          domain = val.replace(/^\./, '').toLowerCase();
          hostOnly = false;
        }
        if (key === 'path' && val.startsWith('/')) cookiePath = val;
        if (key === 'max-age' && Number(val) <= 0) expired = true;
        if (key === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.domain === domain && c.path === cookiePath));
      if (!expired) this.cookies.push({ name, value, domain, hostOnly, path: cookiePath });
    }
  }

  /** The Cookie header for a request to `url`, or undefined when no cookie applies. */
  header(url: string): string | undefined {
    const u = new URL(url);
    const host = u.hostname;
    const matches = this.cookies.filter(
      (c) =>
        (c.hostOnly ? host === c.domain : host === c.domain || host.endsWith(`.${c.domain}`)) &&
        (u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)),
    );
    return matches.length === 0 ? undefined : matches.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  /** The value of the cookie called `name` (whatever its domain and path), or undefined. */
  get(name: string): string | undefined {
    return this.cookies.find((c) => c.name === name)?.value;
  }

  has(name: string): boolean {
    return this.cookies.some((c) => c.name === name);
  }

  /** Forgets every cookie called `name`. */
  delete(name: string): void {
    this.cookies = this.cookies.filter((c) => c.name !== name);
  }

  /** The names of the stored cookies. */
  names(): string[] {
    return [...new Set(this.cookies.map((c) => c.name))];
  }
}

/** A request that carries the jar's cookies and stores the response's. */
export async function jarRequest(jar: CookieJar, url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  const headers: Array<[string, string]> = Array.isArray(opts.headers) ? [...opts.headers] : Object.entries(opts.headers ?? {});
  const cookie = jar.header(url);
  if (cookie !== undefined) headers.push(['Cookie', cookie]);
  const res = await request(url, { ...opts, headers });
  jar.store(url, res);
  return res;
}

export interface Hop {
  url: string;
  status: number;
  location?: string;
}

/**
 * GETs `url` and follows redirects like a browser would (cookies from the jar, relative
 * Locations resolved), at most `maxHops` times, and never to a URL `stay` refuses (that
 * redirect is returned instead). Returns the final response and every hop.
 */
export async function browse(
  jar: CookieJar,
  url: string,
  opts: {
    headers?: Record<string, string>;
    maxHops?: number;
    connectTo?: { host: string; port: number };
    stay?: (url: URL) => boolean;
  } = {},
): Promise<{ res: HttpResponse; url: string; hops: Hop[] }> {
  const hops: Hop[] = [];
  let current = url;
  for (let i = 0; ; i++) {
    const res = await jarRequest(jar, current, { headers: opts.headers, ...(opts.connectTo ? { connectTo: opts.connectTo } : {}) });
    const loc = res.headers.location;
    hops.push({ url: current, status: res.status, ...(loc !== undefined ? { location: loc } : {}) });
    if (res.status < 300 || res.status >= 400 || loc === undefined) return { res, url: current, hops };
    const next = new URL(loc, current);
    if (opts.stay !== undefined && !opts.stay(next)) return { res, url: current, hops };
    if (i >= (opts.maxHops ?? 10)) throw new Error(`too many redirects: ${JSON.stringify(hops)}`);
    current = next.toString();
  }
}
