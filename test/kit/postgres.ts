// The PostgreSQL suites: the server precondition (fail, never skip, when it is absent)
// and throwaway databases so every run starts empty.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { redactUrl } from '../../src/store/index.ts';

export const PG_URL = process.env.GATEHOUSE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Every file calls this first: without a server these suites fail with a clear message. */
export async function requirePostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    const e = err as { code?: string; message?: string };
    throw new Error(
      `test:postgres needs a PostgreSQL server: cannot connect to ${redactUrl(PG_URL)} ` +
        `(${e.code ?? e.message ?? String(err)}); start one or point GATEHOUSE_TEST_PG at it`,
      { cause: err },
    );
  } finally {
    await client.end().catch(() => {});
  }
}

/** PG_URL with another database name (and optional query parameters). */
export function urlFor(database: string, params: Record<string, string> = {}): string {
  const u = new URL(PG_URL);
  u.pathname = `/${database}`;
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/** Runs one statement on PG_URL's database with a short-lived client. */
export async function adminQuery(sql: string, params: unknown[] = [], url = PG_URL): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A new, uniquely named database; drop() removes it even while connections remain. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `gatehouse_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  return {
    name,
    url: urlFor(name),
    drop: async () => {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
