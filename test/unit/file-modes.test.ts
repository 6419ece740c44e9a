// The embedded database and the generated secret are never readable by other users, whatever
// mode the data directory or the files had before Gatehouse started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/core/index.ts';
import { openStore } from '../../src/store/index.ts';
import { resolveSecrets } from '../../src/app/index.ts';
import { tempDir } from '../kit/temp.ts';

const modeOf = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

async function openAndWrite(path: string, logger: MemoryLogger): Promise<void> {
  const store = await openStore({ url: `sqlite:${path}`, logger });
  await store.migrate();
  await store.audit.append({ at: Date.now(), actor: 'test', action: 'test', target: null, outcome: 'ok', detail: {} });
  // -wal and -shm exist while the database is open.
  assert.equal(await modeOf(`${path}-wal`), 0o600);
  assert.equal(await modeOf(`${path}-shm`), 0o600);
  await store.close();
}

test('a data directory made 0755 by an operator: the directory becomes 0700, the database and its WAL 0600, logged once', async () => {
  const root = await tempDir('modes');
  const dir = join(root, 'data');
  await mkdir(dir, { mode: 0o755 });
  await chmod(dir, 0o755);
  const logger = new MemoryLogger();
  const path = join(dir, 'gatehouse.db');
  await openAndWrite(path, logger);
  assert.equal(await modeOf(dir), 0o700);
  assert.equal(await modeOf(path), 0o600);
  const warnings = logger.lines.filter((l) => l.level === 'warn');
  assert.deepEqual(
    warnings.map((w) => [w.msg, w.fields.from, w.fields.to]),
    [['the data directory was readable by other users: its mode is now 0700', '0755', '0700']],
  );
});

test('an existing world-readable database file and WAL are made 0600, and nothing is logged once they are', async () => {
  const dir = await tempDir('modes');
  const path = join(dir, 'gatehouse.db');
  await openAndWrite(path, new MemoryLogger());
  await chmod(path, 0o644);
  const logger = new MemoryLogger();
  await openAndWrite(path, logger);
  assert.equal(await modeOf(path), 0o600);
  assert.deepEqual(
    logger.lines.filter((l) => l.level === 'warn').map((w) => [w.msg, w.fields.from]),
    [['the database file was readable by other users: its mode is now 0600', '0644']],
  );
  const again = new MemoryLogger();
  await openAndWrite(path, again);
  assert.deepEqual(
    again.lines.filter((l) => l.level === 'warn'),
    [],
  );
});

test('a data directory that does not exist yet is created 0700 with the database 0600', async () => {
  const root = await tempDir('modes');
  const path = join(root, 'nested', 'data', 'gatehouse.db');
  await openAndWrite(path, new MemoryLogger());
  assert.equal(await modeOf(join(root, 'nested', 'data')), 0o700);
  assert.equal(await modeOf(path), 0o600);
});

test('a generated secret file copied in as 0644 is made 0600 and the change reported', async () => {
  const dir = await tempDir('modes');
  const made = await resolveSecrets(undefined, dir);
  assert.equal(await modeOf(join(dir, 'secret')), 0o600);
  await chmod(join(dir, 'secret'), 0o644);
  const seen: [string, string][] = [];
  const again = await resolveSecrets(undefined, dir, (file, from) => seen.push([file, from]));
  assert.deepEqual(again.secrets, made.secrets);
  assert.deepEqual(seen, [[join(dir, 'secret'), '0644']]);
  assert.equal(await modeOf(join(dir, 'secret')), 0o600);
});
