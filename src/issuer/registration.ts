// Dynamic client registration (RFC 7591) open to the internet: what is checked before
// oidc-provider sees a registration (POST /oidc/reg) or an update (PUT /oidc/reg/<id>, RFC 7592):
//   1. a per-address limit on registrations (issuer.registrationLimits.perAddress per window):
//      429 with Retry-After; counted per replica, in a bounded map
//   2. the body: at most issuer.registrationLimits.maxBodyBytes, else 413 (never read further)
//   3. field limits: names and URIs of sane length, lists of sane size (400 invalid_client_metadata)
//   4. redirect URIs of a web client: https, or http on a loopback address (MCP authorization,
//      OAuth 2.1 §8.4.2); a native client keeps custom schemes and loopback, as oidc-provider
//      checks them (RFC 8252 §7) — 400 invalid_redirect_uri
// The body read here is put back into the stream for oidc-provider, which reads it as usual.
// Every registration is audited and logged (never the secret): `registered` below.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, Logger } from '../core/index.ts';
import { answer as write, NO_STORE } from '../web/index.ts';

export interface RegistrationLimits {
  maxBodyBytes: number;
  perAddress: number;
  /** Milliseconds. */
  window: number;
}

/** Members whose value is a name shown to people: short. */
const NAME_MAX = 200;
/** Every other string member, URIs included. */
const STRING_MAX = 2048;
/** Every list member (redirect_uris, contacts, grant_types …). */
const LIST_MAX = 20;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

function answer(res: ServerResponse, status: number, error: string, description: string, headers: Record<string, string> = {}): true {
  write(
    res,
    status,
    { 'content-type': 'application/json; charset=utf-8', 'cache-control': NO_STORE, ...headers },
    JSON.stringify({ error, error_description: description }),
  );
  return true;
}

/** Why this metadata is refused (400 with this error code and description), or null. */
export function metadataProblem(body: unknown): { error: 'invalid_client_metadata' | 'invalid_redirect_uri'; description: string } | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null; // oidc-provider answers that one
  const meta = body as Record<string, unknown>;
  for (const [key, value] of Object.entries(meta)) {
    const name = key.split('#', 1)[0] ?? key;
    const max = name === 'client_name' || name === 'software_id' || name === 'software_version' ? NAME_MAX : STRING_MAX;
    if (typeof value === 'string' && value.length > max)
      return { error: 'invalid_client_metadata', description: `${name} is longer than ${max} characters` };
    if (Array.isArray(value)) {
      if (value.length > LIST_MAX) return { error: 'invalid_client_metadata', description: `${name} has more than ${LIST_MAX} members` };
      if (value.some((v) => typeof v === 'string' && v.length > STRING_MAX))
        return { error: 'invalid_client_metadata', description: `a member of ${name} is longer than ${STRING_MAX} characters` };
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && key !== 'jwks') {
      return { error: 'invalid_client_metadata', description: `${name} must not be an object` };
    }
  }
  const appType = meta.application_type ?? 'web';
  if (appType === 'web' && Array.isArray(meta.redirect_uris)) {
    for (const uri of meta.redirect_uris) {
      if (typeof uri !== 'string') continue;
      let u: URL;
      try {
        u = new URL(uri);
      } catch {
        continue;
      } // oidc-provider refuses it with its own words
      if (u.protocol === 'https:') continue;
      if (u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname)) continue;
      return {
        error: 'invalid_redirect_uri',
        description: "a web client's redirect_uris must use https, or http on a loopback address (127.0.0.1, [::1], localhost)",
      };
    }
  }
  return null;
}

export interface RegistrationGuard {
  /**
   * Screens a registration request. true: it was answered here (429, 413, 400). false: it goes
   * on to oidc-provider, with the body already read.
   */
  screen(req: IncomingMessage, res: ServerResponse, clientIp: string, kind: 'register' | 'update'): Promise<boolean>;
  /** Registrations counted now (for tests of the bound). */
  trackedAddresses(): number;
}

export function createRegistrationGuard(deps: {
  limits: () => RegistrationLimits;
  clock: Clock;
  logger: Logger;
  maxAddresses?: number;
}): RegistrationGuard {
  const maxAddresses = deps.maxAddresses ?? 10_000;
  // address -> times of its registrations inside the window, oldest first
  const recent = new Map<string, number[]>();

  function prune(now: number, window: number): void {
    for (const [ip, times] of recent) {
      if ((times.at(-1) ?? 0) <= now - window) recent.delete(ip);
    }
  }

  /** The seconds until another registration is allowed, or 0 (then it is counted). */
  function take(ip: string, limits: RegistrationLimits): number {
    const now = deps.clock.now();
    const times = (recent.get(ip) ?? []).filter((t) => t > now - limits.window);
    if (times.length >= limits.perAddress) {
      recent.set(ip, times);
      return Math.max(1, Math.ceil(((times[0] ?? now) + limits.window - now) / 1000));
    }
    times.push(now);
    recent.delete(ip);
    if (recent.size >= maxAddresses) {
      prune(now, limits.window);
      // Still full: the least recently seen address is forgotten first.
      if (recent.size >= maxAddresses) {
        const oldest = recent.keys().next();
        if (!oldest.done) recent.delete(oldest.value);
      }
    }
    recent.set(ip, times);
    return 0;
  }

  /**
   * The body, at most `max` bytes (null beyond), read without reaching the stream's end and then
   * put back (unshift): oidc-provider then reads the same bytes from the stream, as if untouched.
   * Only what is buffered is read (read(readableLength)), so the end-of-stream is never consumed;
   * the body is whole when the declared length arrived, or (chunked) when the message is complete.
   */
  function readBody(req: IncomingMessage, max: number, declared: number | undefined): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const finish = (err: Error | null, over = false) => {
        if (settled) return;
        settled = true;
        req.off('readable', onReadable);
        req.off('end', onEnd);
        req.off('error', finish);
        if (err) return reject(err);
        if (over) return resolve(null);
        const body = Buffer.concat(chunks, size);
        if (body.length > 0) req.unshift(body);
        resolve(body);
      };
      const onReadable = () => {
        while (req.readableLength > 0) {
          const chunk = req.read(req.readableLength) as Buffer | null;
          if (chunk === null) break;
          chunks.push(chunk);
          size += chunk.length;
          if (size > max) return finish(null, true);
        }
        if ((declared !== undefined && size >= declared) || req.complete) finish(null);
      };
      const onEnd = () => finish(null);
      req.on('readable', onReadable);
      req.on('end', onEnd);
      req.on('error', finish);
      // No body at all: a declared 0, or no Content-Length or Transfer-Encoding (the server ended
      // the stream at once, without an 'end' event: optimizeEmptyRequests).
      if (declared === 0 || req.readableEnded) finish(null);
    });
  }

  return {
    trackedAddresses: () => recent.size,
    async screen(req, res, clientIp, kind) {
      const limits = deps.limits();
      if (kind === 'register') {
        const wait = take(clientIp, limits);
        if (wait > 0) {
          deps.logger.info(
            { event: 'registration.refused', ip: clientIp, reason: 'issuer.registrationLimits.perAddress reached' },
            'client registration refused',
          );
          return answer(res, 429, 'temporarily_unavailable', 'too many registrations from this address; retry later', {
            'retry-after': String(wait),
          });
        }
      }
      // RFC 9110 §15.5.14: refuse a body that is too large without reading it.
      const declared = Number(req.headers['content-length'] ?? NaN);
      const tooLarge = () => {
        deps.logger.info(
          { event: 'registration.refused', ip: clientIp, reason: 'body larger than issuer.registrationLimits.maxBodyBytes' },
          'client registration refused',
        );
        return answer(res, 413, 'invalid_request', `the request body is larger than ${limits.maxBodyBytes} bytes`, { connection: 'close' });
      };
      if (Number.isFinite(declared) && declared > limits.maxBodyBytes) return tooLarge();
      const raw = await readBody(req, limits.maxBodyBytes, Number.isFinite(declared) ? declared : undefined);
      if (raw === null) return tooLarge();
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        parsed = undefined;
      }
      const problem = metadataProblem(parsed);
      if (problem) {
        deps.logger.info({ event: 'registration.refused', ip: clientIp, reason: problem.description }, 'client registration refused');
        return answer(res, 400, problem.error, problem.description);
      }
      return false;
    },
  };
}
