// The store contract against SQLite, one temporary database file per test.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { storeContract } from './contract/suite.ts';
import { openStore } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
let path = '';
storeContract('sqlite', async ({ clock, logger, migrations, sameDatabase }) => {
  if (!sameDatabase) path = join(dir, `store-${++n}.db`);
  return openStore({ url: `sqlite:${path}`, logger, clock, ...(migrations ? { migrations } : {}) });
});
