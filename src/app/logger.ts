// The concrete logger: pino JSON lines on stdout, behind the core `Logger` interface. Redaction
// is the last line of defence — callers log ids and reasons, never secrets — so a header dump or
// a config object that slips into a log line still shows "[redacted]" instead of the value.
import { pino, stdTimeFunctions, type DestinationStream, type Logger as Pino } from 'pino';
import type { Logger } from '../core/index.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export const REDACTED = '[redacted]';

// Field names whose values are secrets wherever they appear (top level, and one or two levels
// down, which covers {req:{headers:{cookie}}} and {config:{secrets:{session}}}).
const SECRET_KEYS = [
  'password',
  'secret',
  'secrets',
  'token',
  'cookie',
  'cookies',
  'authorization',
  '"proxy-authorization"',
  '"set-cookie"',
  'clientSecret',
  'client_secret',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'idToken',
  'id_token',
  'codeVerifier',
  'code_verifier',
  'apiKey',
  'api_key',
];

function key(k: string): string {
  return k.startsWith('"') ? `[${k}]` : `.${k}`;
}

export const REDACT_PATHS: readonly string[] = [
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  ...SECRET_KEYS.flatMap((k) => [k.startsWith('"') ? `[${k}]` : k, `*${key(k)}`, `*.*${key(k)}`]),
];

/** `fields`: added to every line (serve --workers: `worker`, or `role: primary`). */
export function createLogger(opts: { level: LogLevel; destination?: DestinationStream; fields?: Record<string, string | number> }): Logger {
  const p: Pino = pino(
    {
      level: opts.level,
      base: { pid: process.pid, ...opts.fields },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
  return adapt(p);
}

/** pino's methods already have the `(fields, msg)` shape; the child of a pino logger is one too. */
function adapt(p: Pino): Logger {
  return p;
}
