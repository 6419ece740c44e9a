// Liveness and readiness. Liveness (/healthz) answers at once and never waits on the store or a
// migration: a pod waiting on a migration lock must not be killed for it. Readiness (/readyz)
// runs the app's checks, bounded in time.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../core/index.ts';

// The probes answer on their own (they sit below the web shell, and the ops listener serves
// them too): plain text or JSON, never stored.
const NO_STORE = 'no-store';

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.setHeader('cache-control', NO_STORE);
  res.statusCode = status;
  res.end(text);
}

export type ReadyCheck = () => Promise<{ ok: boolean; checks: Record<string, 'ok' | string> }>;

export interface HealthHandlers {
  healthz(req: IncomingMessage, res: ServerResponse): void;
  readyz(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

const OK_BODY = 'ok';
const OK_HEADERS = {
  'content-type': 'text/plain; charset=utf-8',
  'content-length': String(OK_BODY.length),
  'cache-control': NO_STORE,
};

const TIMED_OUT = Symbol('timed out');

/**
 * `about`: fields added to /readyz's JSON as they are (`serve --workers`: which worker answered,
 * so an operator can tell which process a probe reached).
 */
export function healthHandlers(opts: {
  ready: ReadyCheck;
  timeoutMs?: number;
  logger?: Logger;
  about?: Record<string, string | number>;
}): HealthHandlers {
  const timeoutMs = opts.timeoutMs ?? 2000;
  return {
    healthz(_req, res) {
      res.writeHead(200, OK_HEADERS);
      res.end(OK_BODY);
    },
    async readyz(_req, res) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(resolve, timeoutMs, TIMED_OUT);
      });
      let result: Awaited<ReturnType<ReadyCheck>> | typeof TIMED_OUT;
      try {
        result = await Promise.race([opts.ready(), timeout]);
      } catch (err) {
        opts.logger?.warn({ err }, 'readiness check failed');
        result = { ok: false, checks: { ready: 'failed' } };
      } finally {
        clearTimeout(timer);
      }
      if (result === TIMED_OUT) {
        opts.logger?.warn({ timeoutMs }, 'readiness check timed out');
        result = { ok: false, checks: { ready: `timed out after ${timeoutMs}ms` } };
      }
      if (result.ok) sendJson(res, 200, { status: 'ready', checks: result.checks, ...opts.about });
      else sendJson(res, 503, { status: 'not ready', checks: result.checks, ...opts.about });
    },
  };
}
