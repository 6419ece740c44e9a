// The account page links the security page (second factors and passkeys) when any factor is
// enabled, and only then: without factors the page would offer nothing to set up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { send } from '../kit/http.ts';
import { BOB, BROWSER, baseConfig, cookieHeader, startInstance } from '../kit/server.ts';
import { signIn } from '../kit/sign-in.ts';

const HEADERS = { host: 'auth.example.test', 'x-forwarded-proto': 'https', ...BROWSER };

for (const [what, factors, linked] of [
  ['TOTP enabled', { totp: true, require: { groups: [] } }, true],
  ['passkeys enabled', { passkeys: true, require: { groups: [] } }, true],
  ['no factor enabled', undefined, false],
] as const) {
  test(`the account page, ${what}: ${linked ? 'links' : 'does not link'} the security page`, async () => {
    const inst = await startInstance({ users: [BOB], config: (d) => baseConfig(d, factors === undefined ? {} : { factors }) });
    try {
      const { value } = await signIn(inst, 'bob');
      const page = await send(inst.port, { path: '/oauth2/account', headers: { ...HEADERS, cookie: cookieHeader(inst, value) } });
      assert.equal(page.status, 200, page.body.slice(0, 300));
      assert.equal(page.body.includes('href="/oauth2/account/security"'), linked, page.body);
    } finally {
      await inst.close();
    }
  });
}
