// Which pg errors mean "the database cannot be reached or used", and the one message operators
// get for them. The message names host:port, never the url (it may carry a password).

import { GatehouseError } from '../../core/index.ts';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOENT',
  'EACCES',
]);

interface PgLikeError {
  code?: unknown;
  message?: unknown;
  errors?: unknown;
}

/** A short reason: the errno code, or the SQLSTATE and server message, or pg's own words. */
function reasonOf(err: PgLikeError): string | undefined {
  const code = typeof err.code === 'string' ? err.code : undefined;
  const message = typeof err.message === 'string' ? err.message : '';
  if (code !== undefined && NETWORK_CODES.has(code)) return code;
  // SQLSTATE classes: 08 connection exception, 28 invalid authorization, 3D000 invalid
  // catalog (database does not exist), 53300 too many connections, 57P0x server shut down.
  if (code !== undefined && /^(08|28)|^3D000$|^53300$|^57P0[1-3]$/.test(code)) return `${code} ${message}`;
  if (/timeout expired|connection timeout/i.test(message)) return 'timeout';
  if (/Connection terminated|Client has encountered a connection error|not queryable/i.test(message)) return 'connection lost';
  // Node reports a refused dual-stack connect as an AggregateError; look inside.
  if (Array.isArray(err.errors)) {
    for (const inner of err.errors) {
      const r = reasonOf(inner as PgLikeError);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

export function isUnavailable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && !(err instanceof GatehouseError) && reasonOf(err as PgLikeError) !== undefined;
}

export function unavailable(endpoint: string, err: unknown): GatehouseError {
  const reason = (typeof err === 'object' && err !== null ? reasonOf(err as PgLikeError) : undefined) ?? String(err);
  return new GatehouseError(
    'store_unavailable',
    `cannot reach PostgreSQL at ${endpoint} (${reason}): check database.url and that the server is running`,
    { cause: err },
  );
}

/**
 * The connection a statement ran on died under it: the server ended the backend (57P01
 * admin_shutdown, which pg_terminate_backend and a fast shutdown send; 57P02/57P03), or the
 * socket closed or reset. Not a refused or timed-out connect: that is a server that is down.
 */
export function isConnectionLost(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || err instanceof GatehouseError) return false;
  const { code, message } = err as PgLikeError;
  if (code === 'ECONNRESET' || code === 'EPIPE' || (typeof code === 'string' && /^57P0[1-3]$/.test(code))) return true;
  return typeof message === 'string' && /Connection terminated|Client has encountered a connection error|not queryable/i.test(message);
}

/** Re-throws connection-level failures as store_unavailable; anything else unchanged. */
export function mapError(endpoint: string, err: unknown): unknown {
  return isUnavailable(err) ? unavailable(endpoint, err) : err;
}

/** unique_violation (23505) on the named constraint. */
export function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && e.constraint === constraint;
}
