// The CLI in-process: help, check with many mistakes, explain, usage errors, user commands.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../../src/cli/index.ts';
import { addUser, ALICE, baseConfig, fakeIO, writeConfig } from '../kit/server.ts';
import { tempDir } from '../kit/temp.ts';

const COMMANDS = ['serve', 'check', 'migrate', 'user', 'session', 'keys', 'explain', 'doctor', 'invite'];

describe('gatehouse CLI', () => {
  let dir: string;
  let config: string;
  before(async () => {
    dir = await tempDir();
    config = join(dir, 'gatehouse.yaml');
    await writeConfig(config, baseConfig(dir));
    await addUser(config, ALICE);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('--help lists every command with its summary and exits 0', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['--help'], io), 0);
    const text = io.stdout.join('\n');
    assert.match(text, /^usage: gatehouse <command> \[options\]/);
    for (const c of COMMANDS) assert.match(text, new RegExp(`^  ${c} +\\S`, 'm'), `${c} is listed`);
    assert.deepEqual(io.stderr, []);
  });

  test('each command has its own --help', async () => {
    for (const c of COMMANDS) {
      const io = fakeIO();
      assert.equal(await runCli([c, '--help'], io), 0, c);
      assert.match(io.stdout.join('\n'), new RegExp(`usage: gatehouse ${c}`), c);
    }
  });

  test('check reports every mistake with its path at once and exits 1', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      [
        'publicUrl: not-a-url',
        'lisen: { port: 1 }',
        'listen: { port: 70000 }',
        'session: { lifetime: forever }',
        'domains: [ { domain: EXAMPLE } ]',
        'apps:',
        '  - { name: Bad_Name, hosts: [app.example.test] }',
        "  - { name: ok, hosts: ['Bad_Host'], allow: { groups: admins } }",
        '',
      ].join('\n'),
    );
    const io = fakeIO();
    assert.equal(await runCli(['check', '--config', bad], io), 1);
    assert.deepEqual(io.stdout, []);
    const text = io.stderr.join('\n');
    assert.match(text, /^the configuration has 8 problems:/);
    for (const line of [
      '  - publicUrl: expected an absolute http(s) URL without query or fragment',
      '  - listen.port: expected a number <= 65535',
      '  - session.lifetime: expected a duration such as 90s, 15m, 8h or 7d',
      '  - domains[0].domain: expected a lowercase domain such as example.org',
      '  - apps[0].name: expected a lowercase name of letters, digits and "-"',
      '  - apps[1].hosts[0]: expected a lowercase host name',
      '  - apps[1].allow.groups: expected a list, got a string',
      '  - lisen: unknown key; did you mean listen?',
    ])
      assert.ok(text.includes(line), `missing: ${line}`);
  });

  test('check on a good config says so and exits 0', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['check', '--config', config], io), 0);
    assert.deepEqual(io.stdout, [`config OK (${config})`]);
  });

  test('explain names the deciding rule for a user, and for an anonymous request', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['explain', 'https://app.example.test/x', '--user', 'alice', '--config', config], io), 0);
    assert.deepEqual(io.stdout, [
      'decision: allow: app app allows this user',
      'rule: #1 app',
      'request: GET app.example.test /x from 127.0.0.1 as alice (email alice@example.test; groups: admins)',
      'skipped rule #0 public-api: path /x does not match /public/**',
    ]);
    const anon = fakeIO();
    assert.equal(await runCli(['explain', 'https://app.example.test/public/a', '--config', config], anon), 0);
    assert.match(anon.stdout[0]!, /^decision: public/);
    assert.equal(anon.stdout[1], 'rule: #0 public-api');
    // The raw path, as the proxy passes it on: not resolved by a URL parser first.
    const raw = fakeIO();
    assert.equal(await runCli(['explain', 'https://app.example.test/public/..%2Fx', '--config', config], raw), 0);
    assert.deepEqual(raw.stdout, [
      'decision: authenticate: app app requires sign-in',
      'rule: #1 app',
      'request: GET app.example.test /public/..%2Fx from 127.0.0.1 as anonymous',
      'path: /public/..%2Fx normalizes to /x',
      'path: backends can read it 2 ways; the strictest decides',
      '  reading /x: authenticate: app app requires sign-in',
      '  reading /public/..%2Fx: public: app public-api is public',
      'skipped rule #0 public-api: path /x does not match /public/**',
    ]);
    const dots = fakeIO();
    assert.equal(await runCli(['explain', 'https://app.example.test/public/../x', '--config', config], dots), 0);
    assert.equal(dots.stdout[2], 'request: GET app.example.test /public/../x from 127.0.0.1 as anonymous');
    const bad = fakeIO();
    assert.equal(await runCli(['explain', 'app.example.test/x', '--config', config], bad), 2);
    assert.deepEqual(bad.stderr, ['gatehouse: "app.example.test/x" is not an absolute http(s) URL']);
  });

  test("explain says what forward auth answers before the rules: the gate's own paths, the portal's, and /oauth2/auth itself (refused)", async () => {
    const cases: Array<[string, string]> = [
      [
        'https://app.example.test/oauth2/start?rd=x',
        "decision: public: one of the gate's own paths (/oauth2/start, /oauth2/sign_in, /oauth2/sign_out, /oauth2/ticket, /oauth2/callback), passed without an identity",
      ],
      [
        'https://auth.example.test/oauth2/static/x.css',
        "decision: public: the portal's own path on its host (under publicUrl), passed without an identity",
      ],
      [
        'https://app.example.test/oauth2/auth',
        'decision: deny: /oauth2/auth is the forward-auth endpoint itself; a proxy that reports it as the original request named none (check trustedProxies[].kind): 403',
      ],
    ];
    for (const [url, decision] of cases) {
      const io = fakeIO();
      assert.equal(await runCli(['explain', url, '--config', config], io), 0, url);
      assert.deepEqual(io.stdout.slice(0, 2), [decision, 'rule: none (forward auth answers this path before the rules)'], url);
      assert.match(io.stdout[2] ?? '', /^request: GET /, url);
    }
    // Not the portal's on another host, and never an ambiguous spelling of it: the rules decide.
    for (const url of [
      'https://app.example.test/oauth2/static/x.css',
      'https://auth.example.test/oauth2/..;/x',
      'https://app.example.test/oauth2/start/',
    ]) {
      const io = fakeIO();
      assert.equal(await runCli(['explain', url, '--config', config], io), 0, url);
      assert.notEqual(io.stdout[1], 'rule: none (forward auth answers this path before the rules)', url);
    }
  });

  test('explain for an unknown user exits 1; without a URL exits 2', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['explain', 'https://app.example.test/x', '--user', 'nobody', '--config', config], io), 1);
    assert.deepEqual(io.stderr, ['gatehouse: no user named "nobody"']);
    const none = fakeIO();
    assert.equal(await runCli(['explain', '--config', config], none), 2);
  });

  test('an unknown flag exits 2 with the command usage on stderr', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['check', '--bogus'], io), 2);
    assert.equal(io.stderr.length, 1);
    assert.match(io.stderr[0]!, /^gatehouse check: Unknown option '--bogus'/);
    assert.match(io.stderr[0]!, /\n\nusage: gatehouse check \[--config PATH\]/);
    assert.deepEqual(io.stdout, []);
  });

  test('an unknown command exits 2 with the overview on stderr', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['nope'], io), 2);
    assert.match(io.stderr[0]!, /^gatehouse: unknown command "nope"\n\nusage: gatehouse <command>/);
  });

  test('user add refuses a short password on stdin and a duplicate user', async () => {
    const short = fakeIO('short\n');
    assert.equal(await runCli(['user', 'add', 'dave', '--password-stdin', '--config', config], short), 1);
    assert.deepEqual(short.stderr, ['gatehouse: the password on standard input is shorter than 8 characters']);
    const dup = fakeIO('long enough password\n');
    assert.equal(await runCli(['user', 'add', 'alice', '--password-stdin', '--config', config], dup), 1);
    assert.equal(dup.stderr.length, 1);
    assert.equal(dup.stdout.length, 0);
  });

  test('user list shows the users with email, groups and state; never a password hash', async () => {
    const io = fakeIO();
    assert.equal(await runCli(['user', 'list', '--config', config], io), 0);
    assert.deepEqual(io.stdout, ['alice\talice@example.test\tadmins\tactive']);
  });
});
