// The upstream app behind the proxies: it answers every request with what it received, and
// keeps every request it saw, so a suite can check which headers reached the app.
import http from 'node:http';

export interface SeenRequest {
  method: string;
  url: string;
  /** [name, value] pairs exactly as received (req.rawHeaders). */
  headers: Array<[string, string]>;
}

export interface Whoami {
  port: number;
  /** host:port, for {{APP_UPSTREAM}}. */
  address: string;
  /** Every request seen, oldest first. */
  seen: SeenRequest[];
  stop(): Promise<void>;
}

/** What a test server saw of a request: method, URL and the raw header pairs. */
export function recordRequest(req: http.IncomingMessage): SeenRequest {
  const headers: Array<[string, string]> = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  return { method: req.method ?? '', url: req.url ?? '', headers };
}

/** An app that answers every request with JSON {method, url, headers} (raw header names). */
export async function startWhoami(): Promise<Whoami> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const rec = recordRequest(req);
    seen.push(rec);
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify(rec);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('whoami: no address');
  return {
    port: addr.port,
    address: `127.0.0.1:${addr.port}`,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
