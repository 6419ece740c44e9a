// Plain HTTP for the connectors' REST calls (GitHub, Microsoft Graph): JSON in, JSON out, a
// timeout, no redirects followed (a redirect to another host would carry the bearer token).
import { ConnectorError } from './types.ts';

const TIMEOUT_MS = 10_000;

export type Fetch = typeof fetch;

export interface JsonAnswer {
  status: number;
  body: unknown;
  headers: Headers;
}

export async function fetchJson(
  fetchImpl: Fetch,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string },
  what: string,
): Promise<JsonAnswer> {
  let res: Response;
  try {
    res = await fetchImpl(url, {
      method: init.method ?? 'GET',
      headers: { accept: 'application/json', 'user-agent': 'gatehouse', ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body }),
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw new ConnectorError('upstream_error', `${what}: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    if (res.ok) throw new ConnectorError('upstream_error', `${what}: answered ${res.status} with a body that is not JSON`);
  }
  return { status: res.status, body, headers: res.headers };
}

export const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
