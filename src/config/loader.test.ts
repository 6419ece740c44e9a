import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatehouseError } from '../core/index.ts';
import { embeddedConfig } from './defaults.ts';
import { formatIssuePath, loadConfig, renderProblems } from './index.ts';

const SECRET = '733ZZX5wL0I/oHNroFNU9523bd6fbVDVVHCK4xJT/R4=';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function write(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
}

/** The problems of a load that must fail; fails the test if it loads. */
async function problemsOf(p: Promise<unknown>): Promise<readonly string[]> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof GatehouseError, `expected a GatehouseError, got ${String(err)}`);
  assert.equal(err.kind, 'config_invalid');
  assert.equal(err.detail, `the configuration has ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}`);
  return err.problems;
}

test('formatIssuePath: keys dotted, indexes in brackets', () => {
  assert.equal(formatIssuePath(['apps', 2, 'hosts', 0]), 'apps[2].hosts[0]');
  assert.equal(formatIssuePath(['secrets', 'session']), 'secrets.session');
  assert.equal(formatIssuePath(['apps', 0, 'odd key']), 'apps[0]["odd key"]');
  assert.equal(formatIssuePath([]), '(top level)');
});

test('a directory with many mistakes across files lists every one, with exact paths', async (t) => {
  const dir = await tempDir(t);
  await write(dir, {
    '00-base.yaml': [
      'publicUrl: https://auth.example.org/',
      'listen: { port: 4180 }',
      'secrets: { session: "${env:GH_SECRET}" }',
      'log: { level: loud }',
      'session: { lifetime: 7 days }',
      'database: { url: "${env:DB_URL}" }',
      'domains: [ { domain: example.org, cookieDomain: github.io } ]',
    ].join('\n'),
    '10-apps.yaml': [
      'listen: { port: 8080 }',
      'apps:',
      '  - { name: grafana, hosts: [grafana.example.org], allow: {} }',
      '  - { name: docs, hosts: [Docs.example.org], public: true }',
      '  - { name: argocd, hosts: [argocd.example.org], allow: { anyUser: true }, deny: true }',
      '  - { name: grafana, hosts: [wiki.example.org], allow: { groups: [staff] }, upstrem: "http://wiki:80" }',
      '  - { name: portal, hosts: [auth.example.org], allow: { anyUser: true } }',
    ].join('\n'),
    '20-more.yaml': 'trustedProxys: [10.0.0.0/8]\ngroups: [ { name: admins, members: alice } ]\n',
    // not sources: a dotfile and a non-YAML file
    '.hidden.yaml': 'this: [is not parsed',
    'README.txt': 'notes',
  });
  const problems = await problemsOf(loadConfig({ path: dir, env: { DB_URL: 'mysql://gatehouse:hunter2hunter2@db/gatehouse' } }));
  assert.deepEqual(problems, [
    `listen.port: set to different values in ${join(dir, '00-base.yaml')} and ${join(dir, '10-apps.yaml')}`,
    'secrets.session: ${env:GH_SECRET} is not set',
    'log.level: expected one of debug, info, warn, error',
    'session.lifetime: expected a duration such as 90s, 15m, 8h or 7d',
    'groups[0].members: expected a list, got a string',
    'apps[1].hosts[0]: expected a lowercase host name, optionally starting with "*." (for example grafana.example.org or *.example.org)',
    'apps[3].upstrem: unknown key; did you mean upstream?',
    'trustedProxys: unknown key; did you mean trustedProxies?',
    'publicUrl: must not end with "/": write https://auth.example.org',
    'apps[0].allow: matches nobody: list users, groups, emails or emailDomains, or set anyUser: true',
    'apps[2]: expected exactly one of public, allow or deny, got allow and deny',
    'apps[3].name: duplicate app name grafana (first used by apps[0])',
    'apps[4].hosts[0]: the portal host auth.example.org is protected by apps[4]; the sign-in pages would loop (give the app paths, or serve the portal on its own host)',
    'domains[0].cookieDomain: github.io is a public suffix: browsers reject cookies for it, and it would share cookies with every site under it',
    'database.url: expected postgres://…, postgresql://… or sqlite:/path',
  ]);
  assert.ok(!problems.join('\n').includes('hunter2'));
});

test('${env:} and ${file:} references resolve whole or embedded; $${ is a literal', async (t) => {
  const dir = await tempDir(t);
  await write(dir, {
    session: `${SECRET}\n`,
    'two-newlines': 'kept\n\n',
  });
  await write(dir, {
    'gatehouse.yaml': [
      'publicUrl: "https://${env:AUTH_HOST}"',
      `secrets: { session: ["\${file:${join(dir, 'session')}}", "\${env:OLD_SECRET}"] }`,
      `dataDir: "\${file:${join(dir, 'two-newlines')}}"`,
      'database: { url: "postgres://gatehouse:${env:DB_PASSWORD}@db:5432/gatehouse" }',
      'groups: [ { name: "$${env:NOT_A_REFERENCE}", members: ["$$", "a$b"] } ]',
    ].join('\n'),
  });
  const oldSecret = '00282866a8ac892dcff6f8a71ff46e133e334e63795929c3406936edb920503a';
  const loaded = await loadConfig({
    path: join(dir, 'gatehouse.yaml'),
    env: { AUTH_HOST: 'auth.example.org', OLD_SECRET: oldSecret, DB_PASSWORD: 'pw' },
  });
  assert.equal(loaded.config.publicUrl, 'https://auth.example.org');
  assert.deepEqual(loaded.config.secrets.session, [SECRET, oldSecret]);
  assert.equal(loaded.config.dataDir, 'kept\n');
  assert.equal(loaded.config.database.url, 'postgres://gatehouse:pw@db:5432/gatehouse');
  assert.deepEqual(loaded.config.groups, [{ name: '${env:NOT_A_REFERENCE}', members: ['$$', 'a$b'] }]);
  assert.deepEqual(loaded.sources, [join(dir, 'gatehouse.yaml')]);
  assert.deepEqual(loaded.referencedFiles, [join(dir, 'session'), join(dir, 'two-newlines')]);
  assert.equal(loaded.fromFile, true);
  assert.deepEqual(loaded.lints, []);
});

test('a missing env var or unreadable file names the reference and path; resolved values are never echoed', async (t) => {
  const dir = await tempDir(t);
  const leak = 'hunter2-not-a-port-hunter2';
  await write(dir, {
    'gatehouse.yaml': [
      'publicUrl: "${env:PUBLIC_URL}"',
      'listen: { port: "${env:PORT}" }',
      `secrets: { session: ["\${file:${join(dir, 'missing')}}", "\${file:${dir}}", "\${file:relative/path}", "x\${nope}y", "\${env:WEAK}"] }`,
      'apps: [ { name: a, hosts: [a.example.org], public: true, upstream: "http://${env:UPSTREAM_HOST}:8080" } ]',
    ].join('\n'),
  });
  const env = { PUBLIC_URL: 'https://auth.example.org/?token=hunter2hunter2', PORT: leak, WEAK: 'hunter2hunter2' };
  const problems = await problemsOf(loadConfig({ path: join(dir, 'gatehouse.yaml'), env }));
  assert.deepEqual(problems, [
    `secrets.session[0]: \${file:${join(dir, 'missing')}} cannot be read (ENOENT)`,
    `secrets.session[1]: \${file:${dir}} cannot be read (EISDIR)`,
    'secrets.session[2]: ${file:relative/path} must name an absolute path',
    'secrets.session[3]: "${" starts no reference: expected ${env:NAME} or ${file:/path}; write $${ for a literal "${"',
    'apps[0].upstream: ${env:UPSTREAM_HOST} is not set',
    'publicUrl: expected an absolute http(s) URL without query or fragment',
    'listen.port: expected a number, got a string; ${env:…} and ${file:…} always give strings',
    'secrets.session[4]: the secret has about 14 bytes of entropy (read as raw text, which needs at least 32 bytes and 16 distinct characters); at least 32 are needed: generate one with `openssl rand -base64 32`',
  ]);
  assert.ok(!problems.join('\n').includes('hunter2'));
});

test('a ConfigMap-style directory: visible symlinks through ..data, merged in name order', async (t) => {
  const dir = await tempDir(t);
  const gen = join(dir, '..2026_01_01_00_00_00.000000001');
  await mkdir(gen);
  await write(gen, {
    '00-base.yaml': [
      'publicUrl: https://auth.example.org',
      'listen: { host: 0.0.0.0 }',
      'domains: [ { domain: example.org } ]',
      'apps: [ { name: grafana, hosts: [grafana.example.org], allow: { groups: [admins] } } ]',
      'log: { level: debug }',
    ].join('\n'),
    '10-apps.yaml': [
      'listen: { port: 8080 }',
      'domains: [ { domain: example.net } ]',
      'apps: [ { name: wiki, hosts: [wiki.example.net], allow: { anyUser: true } } ]',
      'log: { level: debug }', // the same value in two files is no conflict
    ].join('\n'),
  });
  await symlink('..2026_01_01_00_00_00.000000001', join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await symlink('..data/00-base.yaml', join(dir, '00-base.yaml'));
  await symlink('..data/10-apps.yaml', join(dir, '10-apps.yaml'));

  const loaded = await loadConfig({ path: dir, env: {} });
  assert.deepEqual(loaded.sources, [join(dir, '00-base.yaml'), join(dir, '10-apps.yaml')]);
  assert.deepEqual(loaded.config.listen, { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(loaded.config.domains, [
    { domain: 'example.org', allowHttp: false },
    { domain: 'example.net', allowHttp: false },
  ]);
  assert.deepEqual(
    loaded.config.apps.map((a) => a.name),
    ['grafana', 'wiki'],
  );
  assert.equal(loaded.config.log.level, 'debug');
});

test('a scalar set to different values in two files is an error naming both files', async (t) => {
  const dir = await tempDir(t);
  await write(dir, {
    'a.yaml': 'publicUrl: https://auth.example.org\nsession: { lifetime: 7d }\napps: []\n',
    'b.yml': 'publicUrl: https://login.example.org\nsession: { lifetime: 7d, idleTimeout: 1h }\napps: { name: x }\n',
  });
  const problems = await problemsOf(loadConfig({ path: dir, env: {} }));
  assert.deepEqual(problems, [
    `publicUrl: set to different values in ${join(dir, 'a.yaml')} and ${join(dir, 'b.yml')}`,
    `apps: set to different values in ${join(dir, 'a.yaml')} and ${join(dir, 'b.yml')}`,
  ]);
});

test('YAML syntax errors name the file, line and column; the other files are still checked', async (t) => {
  const dir = await tempDir(t);
  await write(dir, {
    'a.yaml': 'publicUrl: https://auth.example.org\napps: [ { name: x\nlog: 1\n',
    'b.yaml': 'log: { level: loud }\n',
    'c.yaml': 'listen: { port: 1 }\nlisten: { port: 2 }\n',
  });
  const problems = await problemsOf(loadConfig({ path: dir, env: {} }));
  assert.deepEqual(problems, [
    `${join(dir, 'a.yaml')}:3:1: flow map in block collection must be sufficiently indented and end with a }`,
    `${join(dir, 'a.yaml')}:3:1: flow sequence in block collection must be sufficiently indented and end with a ]`,
    `${join(dir, 'c.yaml')}:2:1: map keys must be unique`,
    // publicUrl lives in the broken file: "publicUrl is required" would be a guess, so it is not reported.
    'log.level: expected one of debug, info, warn, error',
  ]);
});

test('file-level problems: missing path, empty directory, a top level that is not a mapping, an empty file', async (t) => {
  const dir = await tempDir(t);
  assert.deepEqual(await problemsOf(loadConfig({ path: join(dir, 'nope.yaml') })), [`${join(dir, 'nope.yaml')}: cannot be read (ENOENT)`]);
  assert.deepEqual(await problemsOf(loadConfig({ path: dir })), [`${dir}: the directory has no *.yaml or *.yml files`]);
  await write(dir, { 'list.yaml': '- a\n- b\n', 'empty.yaml': '# nothing yet\n' });
  assert.deepEqual(await problemsOf(loadConfig({ path: dir })), [
    `${join(dir, 'list.yaml')}: expected a mapping of keys at the top level, got a list`,
  ]);
  await rm(join(dir, 'list.yaml'));
  await write(dir, { 'url.yaml': 'publicUrl: https://auth.example.org\n' });
  assert.equal((await loadConfig({ path: dir })).config.publicUrl, 'https://auth.example.org');
});

test('schema messages: unions, required keys, unknown keys in nested objects, "__proto__"', async (t) => {
  const dir = await tempDir(t);
  await write(dir, {
    'gatehouse.yaml': [
      'publicUrl: https://auth.example.org',
      'secrets: { session: 5 }',
      'listen: { port: 70000 }',
      'apps:',
      '  - { name: a, hosts: [], deny: 3 }',
      '  - { hosts: [b.example.org], allow: { groups: [admins], grups: [x] } }',
      '  - { name: c, hosts: [c.example.org], deny: { usrs: [eve] } }',
      '__proto__: { polluted: true }',
    ].join('\n'),
  });
  const problems = await problemsOf(loadConfig({ path: join(dir, 'gatehouse.yaml'), env: {} }));
  assert.deepEqual(problems, [
    'listen.port: expected a number <= 65535',
    'secrets.session: expected a string or a list, got a number',
    'apps[0].hosts: expected at least 1 item',
    'apps[0].deny: expected true or a mapping, got a number',
    'apps[1].name: is required',
    'apps[1].allow.grups: unknown key; did you mean groups?',
    'apps[2].deny.usrs: unknown key; did you mean users?',
    '__proto__: unknown key',
  ]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('loading has no side effects: nothing created or written', async (t) => {
  const dir = await tempDir(t);
  const dataDir = join(dir, 'data', 'deeper');
  await write(dir, {
    'gatehouse.yaml': `publicUrl: https://auth.example.org\ndataDir: ${dataDir}\ndatabase: { url: "sqlite:${join(dataDir, 'db.sqlite')}" }\n`,
  });
  const loaded = await loadConfig({ path: join(dir, 'gatehouse.yaml') });
  assert.equal(loaded.config.dataDir, dataDir);
  assert.equal(existsSync(join(dir, 'data')), false);
  assert.deepEqual(await readdir(dir), ['gatehouse.yaml']);
});

test('without a path, the embedded demo config; its demo app is in reverse-proxy mode', async () => {
  const loaded = await loadConfig({});
  assert.deepEqual(loaded, embeddedConfig());
  assert.equal(loaded.fromFile, false);
  assert.deepEqual(loaded.sources, []);
  assert.deepEqual(loaded.lints, []);
  const { config } = embeddedConfig('/var/lib/gatehouse');
  assert.equal(config.publicUrl, 'http://localhost:4180');
  assert.deepEqual(config.listen, { host: '127.0.0.1', port: 4180 });
  assert.equal(config.dataDir, '/var/lib/gatehouse');
  assert.equal(config.demo, true);
  assert.deepEqual(config.domains, [{ domain: 'localhost', allowHttp: true }]);
  assert.deepEqual(config.apps, [{ name: 'demo', hosts: ['localhost'], allow: { anyUser: true }, upstream: 'http://127.0.0.1:0/' }]);
  assert.equal(config.secrets.session, undefined);
  assert.equal(embeddedConfig().config.dataDir, './data');
});

test('renderProblems: a header and one line per problem', () => {
  const err = new GatehouseError('config_invalid', 'the configuration has 2 problems', { problems: ['publicUrl: a', 'apps[0]: b'] });
  assert.equal(renderProblems(err), 'the configuration has 2 problems:\n  - publicUrl: a\n  - apps[0]: b');
  assert.equal(renderProblems(new Error('boom')), 'boom');
});

test('YAML merge keys share settings between apps, and top-level x- keys hold the anchors without being settings', async (t) => {
  const dir = await tempDir(t);
  await write(dir, {
    'gatehouse.yaml': [
      'publicUrl: https://auth.example.org',
      `secrets: { session: "${SECRET}" }`,
      'domains: [ { domain: example.org } ]',
      'x-admins: &admins',
      '  allow: { groups: [admins] }',
      '  headers: { user: X-WEBAUTH-USER }',
      'apps:',
      '  - { name: grafana, hosts: [grafana.example.org], <<: *admins }',
      '  - name: argocd',
      '    hosts: [argocd.example.org]',
      '    <<: *admins',
      '    headers: { user: X-ARGO-USER }',
      '',
    ].join('\n'),
  });
  const { config } = await loadConfig({ path: join(dir, 'gatehouse.yaml'), env: {} });
  assert.deepEqual(
    config.apps.map((a) => [a.name, a.allow, a.headers?.user]),
    [
      ['grafana', { groups: ['admins'] }, 'X-WEBAUTH-USER'],
      // A key written beside the merge wins over the merged one (YAML's merge rule).
      ['argocd', { groups: ['admins'] }, 'X-ARGO-USER'],
    ],
  );
  assert.equal(
    Object.keys(config).some((k) => k.startsWith('x-')),
    false,
  );
});

test('an x- key below the top level is still an unknown key', async (t) => {
  const dir = await tempDir(t);
  await write(dir, { 'g.yaml': `publicUrl: https://auth.example.org\nsecrets: { session: "${SECRET}" }\nlisten: { x-note: hi }\n` });
  const problems = await problemsOf(loadConfig({ path: join(dir, 'g.yaml'), env: {} }));
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? '', /^listen\.x-note: unknown key/);
});
