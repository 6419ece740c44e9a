// The issuer's two static documents, discovery (/.well-known/openid-configuration and its RFC 8414
// spellings) and the JWKS, answered from bytes. They change only when the provider is rebuilt (a
// config reload, new signing keys, another publicUrl), so each built provider renders them once,
// through its own callback with the request the route would give it, and every GET or HEAD after
// that is the same bytes with the headers oidc-provider sends (its CORS: `Vary: Origin` and the
// request's Origin, or `*`, allowed), plus an ETag and `Cache-Control: no-cache` so a cache
// revalidates instead of keeping a document past a reload or a key rotation. Any other method
// (a CORS preflight) still goes to the provider. docs/benchmarks.md has what it saved.
import { createHash } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

export interface StaticDocument {
  body: Buffer;
  etag: string;
  /** Content-Type and Content-Length, as oidc-provider answered them. */
  headers: Readonly<Record<string, string>>;
}

export interface StaticDocuments {
  discovery: StaticDocument;
  jwks: StaticDocument;
}

type Callback = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** The request as the issuer's route hands it to the provider (issuer.ts `rewrite`). */
export interface ProviderRequest {
  /** The path the provider sees (without publicUrl's path). */
  url: string;
  /** The path as requested (with publicUrl's path): oidc-provider derives its mount path from it. */
  originalUrl: string;
  host: string;
  proto: string;
}

/** One GET through the provider, in memory: the body and content type it answered. */
export async function renderThroughProvider(callback: Callback, r: ProviderRequest): Promise<StaticDocument> {
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = r.url;
  (req as IncomingMessage & { originalUrl?: string }).originalUrl = r.originalUrl;
  req.headers = { host: r.host, 'x-forwarded-proto': r.proto };
  req.push(null);
  const res = new ServerResponse(req);
  let body: Buffer | undefined;
  res.end = ((chunk?: unknown) => {
    if (typeof chunk === 'string') body = Buffer.from(chunk, 'utf8');
    else if (Buffer.isBuffer(chunk)) body = chunk;
    return res;
  }) as ServerResponse['end'];
  await callback(req, res);
  const type = res.getHeader('content-type');
  if (res.statusCode !== 200 || body === undefined || typeof type !== 'string') {
    throw new Error(`the provider answered ${res.statusCode} for ${r.url}`);
  }
  return {
    body,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`,
    headers: Object.freeze({ 'content-type': type, 'content-length': String(body.length) }),
  };
}

/** RFC 9110 §13.1.2: If-None-Match compares weakly; `*` matches any current document. */
function notModified(ifNoneMatch: string, etag: string): boolean {
  for (const raw of ifNoneMatch.split(',')) {
    const tag = raw.trim();
    if (tag === '*' || tag === etag || tag === `W/${etag}`) return true;
  }
  return false;
}

/** Answers a GET or HEAD with the document's bytes (304 when the client's copy is current). */
export function sendStaticDocument(req: IncomingMessage, res: ServerResponse, d: StaticDocument): void {
  res.setHeader('vary', 'Origin');
  res.setHeader('access-control-allow-origin', req.headers.origin || '*');
  res.setHeader('etag', d.etag);
  res.setHeader('cache-control', 'no-cache');
  const inm = req.headers['if-none-match'];
  if (inm !== undefined && notModified(inm, d.etag)) {
    res.writeHead(304);
    res.end();
    return;
  }
  res.writeHead(200, d.headers);
  if (req.method === 'HEAD') res.end();
  else res.end(d.body);
}
