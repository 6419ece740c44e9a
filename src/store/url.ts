// database.url: which adapter, where, and a form that is safe to print (the password redacted).

import { isAbsolute } from 'node:path';
import { GatehouseError } from '../core/index.ts';

export type StoreTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; redacted: string; endpoint: string };

/** The URL with any password (userinfo or `password=` parameter) replaced by `***`. */
export function redactUrl(url: string): string {
  return (
    url
      // Greedy to the last '@' before the path: an unencoded '@' in a password must not leak its tail.
      .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^/?#]*@/i, '$1:***@')
      .replace(/([?&]password=)[^&#]*/gi, '$1***')
  );
}

export function parseStoreUrl(url: string): StoreTarget {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    return { kind: 'postgres', url, redacted: redactUrl(url), endpoint: postgresEndpoint(url) };
  }
  if (url === 'sqlite::memory:') return { kind: 'sqlite', path: ':memory:' };
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (isAbsolute(path)) return { kind: 'sqlite', path };
    throw new GatehouseError(
      'config_invalid',
      `database.url: a sqlite: url needs an absolute path, like sqlite:/var/lib/gatehouse/gatehouse.db (got "${redactUrl(url)}")`,
    );
  }
  throw new GatehouseError(
    'config_invalid',
    `database.url must start with postgres://, postgresql:// or sqlite: (got "${redactUrl(url)}")`,
  );
}

/** host:port for messages; a `host=` parameter (a socket directory) wins, as it does in pg. */
function postgresEndpoint(url: string): string {
  let parsed: URL;
  try {
    // postgres://user@/db?host=/run/postgresql has no host part, which URL rejects.
    parsed = new URL(url.replace(/@\//, '@__nohost__/'));
  } catch {
    throw new GatehouseError('config_invalid', `database.url is not a valid url (got "${redactUrl(url)}")`);
  }
  const hostname = parsed.hostname === '__nohost__' || parsed.hostname === '' ? 'localhost' : decodeURIComponent(parsed.hostname);
  const host = parsed.searchParams.get('host') ?? hostname;
  return `${host}:${parsed.port === '' ? '5432' : parsed.port}`;
}
