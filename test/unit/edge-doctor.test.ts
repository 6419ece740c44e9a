// `gatehouse doctor edge` and the Gatehouse config in docs/edge.md: the docs' config passes
// `gatehouse check`, and doctor edge turns it into the Worker's settings, which the edge package
// accepts and whose wrangler fragment passes the trap check.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../../src/cli/index.ts';
import { checkWranglerConfig, parseJsonc } from '../../edge/src/wrangler.ts';
import { compilePolicy } from '../../edge/src/rules.ts';
import { readSettings } from '../../edge/src/settings.ts';
import { fakeIO } from '../kit/server.ts';
import { tempDir } from '../kit/temp.ts';

const ENV = { INTEL_EDGE_SECRET: 'a-client-secret-long-enough', GATEHOUSE_SECRET: '+IgCoVQqg0/lBY/ijpasDEt4ezf5x0YQM8oB0e4TIME=' };

describe('gatehouse doctor edge', () => {
  let dir: string;
  let config: string;
  before(async () => {
    dir = await tempDir();
    const md = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'edge.md'), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(md)![1]!;
    config = join(dir, 'gatehouse.yaml');
    await writeFile(config, `${yaml}dataDir: ${JSON.stringify(dir)}\n`);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the config in docs/edge.md passes gatehouse check', async () => {
    const io = fakeIO('', ENV);
    assert.equal(await runCli(['check', '--config', config], io), 0, io.stdout.concat(io.stderr).join('\n'));
    assert.deepEqual(io.stdout, [`config OK (${config})`]);
  });

  test("prints the Worker's settings: issuer, client, run_worker_first, the rules of the apps on its host", async () => {
    const io = fakeIO('', ENV);
    assert.equal(await runCli(['doctor', 'edge', '--client', 'intel-edge', '--config', config], io), 0, io.stderr.join('\n'));
    assert.deepEqual(io.stderr, []);
    const text = io.stdout.join('\n');
    assert.match(
      text,
      /^\/\/ gatehouse doctor edge: the Worker at https:\/\/intel\.example\.org signing in through https:\/\/auth\.example\.org as client "intel-edge"\./,
    );
    assert.match(text, /\/\/ {3}wrangler secret put GATEHOUSE_CLIENT_SECRET {4}# clients\[0\]\.secret/);
    assert.ok(!text.includes(ENV.INTEL_EDGE_SECRET), 'the secret itself is never printed');
    const settings = parseJsonc(text) as { assets: Record<string, unknown>; vars: Record<string, unknown> };
    assert.deepEqual(settings, {
      assets: { directory: './public', binding: 'ASSETS', run_worker_first: true },
      vars: {
        GATEHOUSE_ISSUER: 'https://auth.example.org',
        GATEHOUSE_CLIENT_ID: 'intel-edge',
        GATEHOUSE_SESSION_LIFETIME: '300',
        GATEHOUSE_RULES: [
          { name: 'intel-modules', paths: ['/modules', '/overwatch'], allow: { groups: ['analysts'] } },
          { name: 'intel-site', public: true },
        ],
      },
    });
    // The edge package takes these settings as they are, and they decide as Gatehouse would.
    const s = readSettings({ ...settings.vars, GATEHOUSE_CLIENT_SECRET: 'x', GATEHOUSE_SESSION_SECRET: ENV.GATEHOUSE_SECRET });
    const p = compilePolicy(s.rules);
    assert.equal(p.decide('GET', '/modules/intel.html', null).action, 'authenticate');
    assert.equal(p.decide('GET', '/modules/intel', { sub: 's', username: 'eve', email: null, groups: ['x'] }).action, 'deny');
    assert.equal(p.decide('GET', '/', null).action, 'public');
    assert.deepEqual(checkWranglerConfig({ ...settings, assets: { ...settings.assets } }), { ok: true, problems: [] });
  });

  test("--wrangler checks the Worker's file: the trap exits 1 with the problem; the template passes", async () => {
    const trap = join(dir, 'wrangler.jsonc');
    await writeFile(
      trap,
      '{ "assets": { "directory": "./public" }, "vars": { "GATEHOUSE_RULES": [{ "paths": ["/modules"], "allow": { "anyUser": true } }, { "public": true }] } }',
    );
    const io = fakeIO('', ENV);
    assert.equal(await runCli(['doctor', 'edge', '--client', 'intel-edge', '--wrangler', trap, '--config', config], io), 1);
    assert.deepEqual(io.stderr, [
      `✗ ${trap}: assets.run_worker_first: unset (false by default): every file under ./public is served before the Worker runs, without sign-in; set "run_worker_first": true`,
    ]);
    const template = join(import.meta.dirname, '..', '..', 'edge', 'template', 'wrangler.jsonc');
    const ok = fakeIO('', ENV);
    assert.equal(await runCli(['doctor', 'edge', '--client', 'intel-edge', '--wrangler', template, '--config', config], ok), 0);
    assert.deepEqual(ok.stderr, [`✓ ${template}: no protected path can be served before the Worker`]);
  });

  test("the rules in docs/edge.md are valid and are the template's, and the template passes the check", async () => {
    const md = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'edge.md'), 'utf8');
    const rules = JSON.parse(/```json\n([\s\S]*?)```/.exec(md)![1]!) as unknown;
    const template = parseJsonc(await readFile(join(import.meta.dirname, '..', '..', 'edge', 'template', 'wrangler.jsonc'), 'utf8')) as {
      vars: Record<string, unknown>;
    };
    assert.deepEqual(rules, template.vars.GATEHOUSE_RULES);
    assert.deepEqual(checkWranglerConfig(template), { ok: true, problems: [] });
  });

  test('problems with the client are named with their path', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      [
        'publicUrl: http://auth.example.org',
        `dataDir: ${JSON.stringify(dir)}`,
        'clients:',
        '  - { id: spa, public: true, redirectUris: [https://w.example.org/.gatehouse/callback] }',
        '  - { id: nocb, secret: a-client-secret-long-enough, redirectUris: [https://w.example.org/cb] }',
        '  - { id: w, secret: a-client-secret-long-enough, redirectUris: [https://w.example.org/.gatehouse/callback], claims: [email] }',
        'apps:',
        '  - { name: lan, hosts: [w.example.org], networks: [10.0.0.0/8], public: true }',
        '  - { name: site, hosts: [w.example.org], allow: { anyUser: true } }',
        '',
      ].join('\n'),
    );
    const run = async (args: string[]) => {
      const io = fakeIO('', ENV);
      const code = await runCli(['doctor', 'edge', ...args, '--config', bad], io);
      return { code, io };
    };
    const missing = await run(['--client', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.io.stderr[0]!, /^gatehouse doctor edge: no client "nope" in clients\[\] \(known: spa, nocb, w\); add one: /);
    assert.deepEqual((await run(['--client', 'spa'])).io.stderr, [
      'gatehouse doctor edge: clients[0] (spa) is public; the Worker is a confidential client: give it a secret (a Worker secret) and remove public: true',
    ]);
    assert.deepEqual((await run(['--client', 'nocb'])).io.stderr, [
      "gatehouse doctor edge: clients[1].redirectUris has no https://<worker host>/.gatehouse/callback: the Worker's callback; add it",
    ]);
    const w = await run(['--client', 'w']);
    assert.equal(w.code, 0);
    assert.deepEqual(w.io.stderr, [
      'gatehouse: warning: publicUrl is not https: the Worker refuses a plain-http issuer unless GATEHOUSE_ALLOW_HTTP is "true" (local development only)',
      'gatehouse: warning: clients[2].firstParty is false: visitors are asked to consent once; set firstParty: true for your own Worker',
      'gatehouse: warning: clients[2].claims leaves out groups: rules by group never match at the edge',
      "gatehouse: warning: clients[2].claims leaves out preferred_username: the edge's username (and rules by user) fall back to sub",
      'gatehouse: warning: apps[0] (lan) is limited to networks, which the edge cannot see: left out of GATEHOUSE_RULES (fails closed)',
    ]);
    const vars = (parseJsonc(w.io.stdout.join('\n')) as { vars: Record<string, unknown> }).vars;
    assert.deepEqual(vars.GATEHOUSE_RULES, [{ name: 'site', allow: { anyUser: true } }]);
    assert.equal(vars.GATEHOUSE_ALLOW_HTTP, 'true');
    const usage = await run([]);
    assert.equal(usage.code, 2);
    assert.deepEqual(usage.io.stderr, ["gatehouse doctor edge: --client ID is required (the Worker's client in clients[])"]);
    const io = fakeIO('', ENV);
    assert.equal(await runCli(['doctor', '--client', 'w', '--config', bad], io), 2);
    assert.deepEqual(io.stderr, ['gatehouse doctor: --client is for `gatehouse doctor edge`']);
  });
});
