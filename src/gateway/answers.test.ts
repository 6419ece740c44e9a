// The forward-auth pass answer's headers are made once per identity and header names
// (answers.ts passHeaders): they must still say exactly who the identity is, change when the
// session's identity is refreshed (a new object) or the header names change (a reload), and
// keep the object form's rule that one name given twice is one header (the last value).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { Identity } from '../core/index.ts';
import type { HeaderNames } from '../web/index.ts';
import { sendPass } from './answers.ts';

const NAMES: HeaderNames = {
  user: 'x-auth-request-user',
  email: 'x-auth-request-email',
  groups: 'x-auth-request-groups',
  preferredUsername: 'x-auth-request-preferred-username',
};

async function passOver(answerWith: (res: http.ServerResponse) => void): Promise<string[]> {
  const server = http.createServer((_req, res) => answerWith(res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ port, host: '127.0.0.1', path: '/', agent: false }, resolve).on('error', reject);
    });
    res.resume();
    assert.equal(res.statusCode, 202);
    const raw: string[] = [];
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const k = res.rawHeaders[i]!.toLowerCase();
      if (k !== 'date' && k !== 'connection' && k !== 'keep-alive') raw.push(`${k}: ${res.rawHeaders[i + 1]}`);
    }
    return raw;
  } finally {
    server.close();
  }
}

test('the same identity twice: the same headers; a refreshed identity or new names: new headers', async () => {
  const alice: Identity = { username: 'alice', email: 'alice@example.test', emailVerified: true, groups: ['admins', 'ops'] };
  const want = [
    'x-auth-request-user: alice',
    'x-auth-request-email: alice@example.test',
    'x-auth-request-groups: admins,ops',
    'x-auth-request-preferred-username: alice',
    'cache-control: no-store',
    'content-length: 0',
  ];
  assert.deepEqual(await passOver((res) => sendPass(res, NAMES, alice)), want);
  assert.deepEqual(await passOver((res) => sendPass(res, NAMES, alice)), want);
  const refreshed: Identity = { ...alice, email: null, groups: ['ops'] };
  assert.deepEqual(await passOver((res) => sendPass(res, NAMES, refreshed)), [
    'x-auth-request-user: alice',
    'x-auth-request-email: ',
    'x-auth-request-groups: ops',
    'x-auth-request-preferred-username: alice',
    'cache-control: no-store',
    'content-length: 0',
  ]);
  const renamed: HeaderNames = { user: 'remote-user', email: 'remote-email', groups: 'remote-groups', preferredUsername: 'remote-user' };
  assert.deepEqual(await passOver((res) => sendPass(res, renamed, alice)), [
    'remote-user: alice',
    'remote-email: alice@example.test',
    'remote-groups: admins,ops',
    'cache-control: no-store',
    'content-length: 0',
  ]);
  assert.deepEqual(await passOver((res) => sendPass(res, NAMES, null)), [
    'x-auth-request-user: ',
    'x-auth-request-email: ',
    'x-auth-request-groups: ',
    'x-auth-request-preferred-username: ',
    'cache-control: no-store',
    'content-length: 0',
  ]);
  assert.deepEqual(await passOver((res) => sendPass(res, renamed, null)), [
    'remote-user: ',
    'remote-email: ',
    'remote-groups: ',
    'cache-control: no-store',
    'content-length: 0',
  ]);
});
