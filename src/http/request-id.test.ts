import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { requestId, newRequestId } from './request-id.ts';

const req = (id?: string) => ({ headers: id === undefined ? {} : { 'x-request-id': id } }) as unknown as IncomingMessage;
const GENERATED = /^[A-Za-z0-9]{8}-[0-9a-z]+$/;

test('an incoming id is kept only from a trusted peer and only when plain', () => {
  assert.equal(requestId(req('ingress-abc.123_X'), true), 'ingress-abc.123_X');
  assert.equal(requestId(req('a'.repeat(128)), true), 'a'.repeat(128));
  assert.match(requestId(req('ingress-abc'), false), GENERATED);
  assert.match(requestId(req('a'.repeat(129)), true), GENERATED);
  assert.match(requestId(req('<script>'), true), GENERATED);
  assert.match(requestId(req('a b'), true), GENERATED);
  assert.match(requestId(req(''), true), GENERATED);
  assert.match(requestId(req(), true), GENERATED);
});

test('generated ids share the process prefix and never repeat', () => {
  const a = newRequestId();
  const b = newRequestId();
  assert.notEqual(a, b);
  assert.equal(a.slice(0, 9), b.slice(0, 9));
  assert.equal(parseInt(b.slice(9), 36), parseInt(a.slice(9), 36) + 1);
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) seen.add(newRequestId());
  assert.equal(seen.size, 10_000);
});
