// The store contract against PostgreSQL: one fresh database per run, one schema per test.

import { after, before } from 'node:test';
import { storeContract } from '../../src/store/contract/suite.ts';
import { openStore } from '../../src/store/index.ts';
import { adminQuery, createTestDatabase, requirePostgres, type TestDatabase } from '../kit/postgres.ts';

await requirePostgres();

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

let n = 0;
let url = '';
storeContract('postgres', async ({ clock, logger, migrations, sameDatabase }) => {
  if (!sameDatabase) {
    const schema = `contract_${++n}`;
    await adminQuery(`CREATE SCHEMA ${schema}`, [], db.url);
    const u = new URL(db.url);
    u.searchParams.set('options', `-c search_path=${schema}`);
    url = u.toString();
  }
  return openStore({ url, logger, clock, ...(migrations ? { migrations } : {}) });
});
