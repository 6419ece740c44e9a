// A request id ties a client's error page to the log line with the real reason.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const ACCEPTED = /^[A-Za-z0-9._-]{1,128}$/;

// A per-process prefix (so ids from two replicas never collide) and a counter: unique, cheap,
// and not secret — the id is printed on error pages.
const PREFIX = randomBytes(6).toString('base64url').replace(/[-_]/g, 'x') + '-';
let counter = 0;

/** A fresh id: `<process prefix>-<counter in base 36>`. */
export function newRequestId(): string {
  counter = counter === Number.MAX_SAFE_INTEGER ? 1 : counter + 1;
  return PREFIX + counter.toString(36);
}

/**
 * The id for this request: an incoming X-Request-Id is kept only from a trusted proxy (so an
 * ingress's id links its log line to ours) and only if it is short and plain; otherwise a new one.
 */
export function requestId(req: IncomingMessage, trustedPeer: boolean): string {
  if (trustedPeer) {
    const incoming = req.headers['x-request-id'];
    if (typeof incoming === 'string' && ACCEPTED.test(incoming)) return incoming;
  }
  return newRequestId();
}
