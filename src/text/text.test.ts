import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LANGUAGES, text, textFor } from './index.ts';
import { EN } from './en.ts';

test('text: {name} is replaced by its value; a name without a value stays as written; an unknown language reads English', () => {
  assert.equal(
    text('reset.sent', { minutes: 30 }),
    'If an account matches, a link is on its way to its address. It works once, for 30 minutes.',
  );
  assert.equal(text('invite.groups', {}), 'Your account will be in: {groups}.');
  assert.equal(textFor('xx')('invite.title'), 'Create your account');
  assert.deepEqual(LANGUAGES, ['en']);
});

test('the catalogue: every entry is text without markup, and every {name} is a plain word', () => {
  for (const [key, value] of Object.entries(EN)) {
    assert.doesNotMatch(value, /[<>]/, key);
    for (const m of value.matchAll(/\{([^}]*)\}/g)) assert.match(m[1] ?? '', /^\w+$/, `${key}: {${m[1]}}`);
  }
});
