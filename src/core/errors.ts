// One registry of errors with stable codes. The HTTP status and the RFC error code belong to
// the error class, never to the throw site; the wire sees `error` and a short description,
// the log sees the real reason (`detail`).

export type ErrorKind =
  | 'config_invalid'
  | 'secret_invalid'
  | 'store_unavailable'
  | 'schema_too_new'
  | 'migration_failed'
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'too_many_requests'
  | 'payload_too_large'
  | 'conflict'
  | 'internal';

interface KindInfo {
  status: number;
  wire: string;
  description: string;
}

const KINDS: Record<ErrorKind, KindInfo> = {
  config_invalid: { status: 500, wire: 'server_error', description: 'the configuration is invalid' },
  secret_invalid: { status: 500, wire: 'server_error', description: 'a secret is invalid' },
  store_unavailable: { status: 503, wire: 'temporarily_unavailable', description: 'the store is unavailable' },
  schema_too_new: { status: 503, wire: 'temporarily_unavailable', description: 'the store schema is newer than this release' },
  migration_failed: { status: 503, wire: 'temporarily_unavailable', description: 'a migration failed' },
  invalid_request: { status: 400, wire: 'invalid_request', description: 'the request is invalid' },
  unauthorized: { status: 401, wire: 'unauthorized', description: 'authentication is required' },
  forbidden: { status: 403, wire: 'access_denied', description: 'access is denied' },
  not_found: { status: 404, wire: 'not_found', description: 'not found' },
  method_not_allowed: { status: 405, wire: 'invalid_request', description: 'method not allowed' },
  too_many_requests: { status: 429, wire: 'slow_down', description: 'too many requests' },
  payload_too_large: { status: 413, wire: 'invalid_request', description: 'the request body is too large' },
  conflict: { status: 409, wire: 'invalid_request', description: 'the object already exists' },
  internal: { status: 500, wire: 'server_error', description: 'internal error' },
};

export class GatehouseError extends Error {
  readonly kind: ErrorKind;
  /** The operator-facing reason. Goes to logs and the CLI, never to an HTTP client. */
  readonly detail: string;
  /** Problems with paths, for config errors. */
  readonly problems: readonly string[];

  constructor(kind: ErrorKind, detail: string, options?: { cause?: unknown; problems?: readonly string[] }) {
    super(detail, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatehouseError';
    this.kind = kind;
    this.detail = detail;
    this.problems = options?.problems ?? [];
  }

  get status(): number {
    return KINDS[this.kind].status;
  }
  /** RFC vocabulary for the wire (RFC 6749 §5.2 style codes). */
  get wireCode(): string {
    return KINDS[this.kind].wire;
  }
  get wireDescription(): string {
    return KINDS[this.kind].description;
  }
}

export function isGatehouseError(err: unknown): err is GatehouseError {
  return err instanceof GatehouseError;
}

/** Turn any thrown value into something safe to show a client. */
export function toWire(err: unknown): { status: number; error: string; error_description: string } {
  if (isGatehouseError(err)) return { status: err.status, error: err.wireCode, error_description: err.wireDescription };
  return { status: 500, error: 'server_error', error_description: 'internal error' };
}
