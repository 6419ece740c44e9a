import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '../core/index.ts';
import { parseStoreUrl, redactUrl } from './url.ts';

test('redactUrl hides the userinfo password and a password= parameter, nothing else', () => {
  assert.equal(
    redactUrl('postgres://gate:p%40ss:w0rd@db.internal:6432/gh?sslmode=require'),
    'postgres://gate:***@db.internal:6432/gh?sslmode=require',
  );
  assert.equal(
    redactUrl('postgresql://gate@db/gh?password=hunter2&application_name=x'),
    'postgresql://gate@db/gh?password=***&application_name=x',
  );
  assert.equal(redactUrl('postgres://gate:p@ss@db/gh'), 'postgres://gate:***@db/gh');
  assert.equal(redactUrl('postgres://db/gh'), 'postgres://db/gh');
  assert.equal(redactUrl('sqlite:/var/lib/gatehouse/gh.db'), 'sqlite:/var/lib/gatehouse/gh.db');
});

test('parseStoreUrl picks the adapter and names host:port for messages', () => {
  assert.deepEqual(parseStoreUrl('postgres://gate:pw@db.internal:6432/gh'), {
    kind: 'postgres',
    url: 'postgres://gate:pw@db.internal:6432/gh',
    redacted: 'postgres://gate:***@db.internal:6432/gh',
    endpoint: 'db.internal:6432',
  });
  assert.equal((parseStoreUrl('postgresql://db/gh') as { endpoint: string }).endpoint, 'db:5432');
  assert.equal((parseStoreUrl('postgres://gate@/gh?host=/run/postgresql') as { endpoint: string }).endpoint, '/run/postgresql:5432');
  assert.equal((parseStoreUrl('postgres://[::1]:5433/gh') as { endpoint: string }).endpoint, '[::1]:5433');
  assert.deepEqual(parseStoreUrl('sqlite:/var/lib/gatehouse/gh.db'), { kind: 'sqlite', path: '/var/lib/gatehouse/gh.db' });
  assert.deepEqual(parseStoreUrl('sqlite::memory:'), { kind: 'sqlite', path: ':memory:' });
});

test('parseStoreUrl rejects other schemes and relative sqlite paths, with the password redacted', () => {
  const cases: [string, string][] = [
    ['mysql://root:hunter2@db/gh', 'database.url must start with postgres://, postgresql:// or sqlite: (got "mysql://root:***@db/gh")'],
    ['./data/gh.db', 'database.url must start with postgres://, postgresql:// or sqlite: (got "./data/gh.db")'],
    [
      'sqlite:data/gh.db',
      'database.url: a sqlite: url needs an absolute path, like sqlite:/var/lib/gatehouse/gatehouse.db (got "sqlite:data/gh.db")',
    ],
    ['postgres://gate:hunter2@db:notaport/gh', 'database.url is not a valid url (got "postgres://gate:***@db:notaport/gh")'],
  ];
  for (const [url, detail] of cases) {
    assert.throws(
      () => parseStoreUrl(url),
      (e: unknown) => e instanceof GatehouseError && e.kind === 'config_invalid' && e.detail === detail,
      url,
    );
  }
});
