// The account page on one instance with the issuer: the apps a person allowed, and revoking one
// there makes the app's refresh token fail (openid-client, a certified relying party); ending a
// session there refuses it at once; the password change asks for the current password first;
// every change is refused from another origin.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { addUser, type Instance } from '../kit/server.ts';
import { discover } from '../kit/issuer.ts';
import { startMcpIssuer } from '../kit/mcp.ts';
import { cli, holder, sessionStatus } from '../kit/people.ts';

let inst: Instance;
before(async () => {
  inst = await startMcpIssuer();
  await addUser(inst.configPath, { name: 'ivy', email: 'ivy@example.test', groups: [] });
});
after(async () => {
  await inst.close();
});

const h1 = (body: string): string | undefined => /<h1>([^<]*)<\/h1>/.exec(body)?.[1];
/** The hidden fields of the form that holds `marker` (a field value unique to it). */
function formWith(body: string, marker: string): Record<string, string> {
  for (const m of body.matchAll(/<form method="post"[^>]*>([\s\S]*?)<\/form>/g)) {
    const inner = m[1] ?? '';
    if (!inner.includes(marker)) continue;
    return Object.fromEntries(
      [...inner.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((x) => [
        x[1] ?? '',
        (x[2] ?? '').replaceAll('&amp;', '&'),
      ]),
    );
  }
  throw new Error(`no form with ${marker}`);
}

describe('the account page', () => {
  test('revoking an app there makes its refresh token fail (openid-client: invalid_grant); the app is gone from the list', async () => {
    const h = await holder(inst, 'ivy');
    const config = await discover(inst, h.client.clientId);
    const refreshed = await oidc.refreshTokenGrant(config, h.refreshToken, { resource: 'https://mcp.example.test/mcp' });
    assert.equal(typeof refreshed.refresh_token, 'string', 'the refresh token works before');
    const page = await h.browser.request('/oauth2/account');
    assert.equal(page.status, 200);
    assert.equal(h1(page.body), 'Your account');
    assert.match(page.body, new RegExp(`aria-label="Revoke access of ${h.client.clientId}"`));
    const fields = formWith(page.body, 'revoke_app');
    const r = await h.browser.request('/oauth2/account', {
      method: 'POST',
      body: new URLSearchParams(fields).toString(),
      headers: { origin: 'https://auth.example.test' },
    });
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, `/oauth2/account?done=app&app=${encodeURIComponent(h.client.clientId)}`);
    await assert.rejects(
      oidc.refreshTokenGrant(config, refreshed.refresh_token ?? '', { resource: 'https://mcp.example.test/mcp' }),
      (err: unknown) => err instanceof oidc.ResponseBodyError && err.error === 'invalid_grant',
    );
    const after = await h.browser.request(r.headers.location ?? '');
    assert.match(after.body, /<p class="notice" role="status">Access of [^<]+ was revoked\.<\/p>/);
    assert.match(after.body, /You have not allowed any app\./);
    const audit = await cli(inst, 'audit', '--json', '--action', 'grant_revoke', '--actor', 'ivy');
    assert.equal(audit.out.length, 1);
    assert.match(audit.out[0] ?? '', /"actor":"ivy","action":"grant_revoke","target":"ivy","outcome":"ok"/);
  });

  test('a change posted from another origin is refused (403) and changes nothing; the password change needs the current one', async () => {
    const h = await holder(inst, 'ivy');
    const page = await h.browser.request('/oauth2/account');
    const foreign = await h.browser.request('/oauth2/account', {
      method: 'POST',
      body: new URLSearchParams(formWith(page.body, 'revoke_app')).toString(),
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(foreign.status, 403);
    assert.match((await h.browser.request('/oauth2/account')).body, /Revoke access of/);

    // "Link <provider>" is a link carrying the form token: without the right one it starts nothing.
    const forged = await h.browser.request('/oauth2/account?link=corp&csrf=forged');
    assert.equal(forged.status, 403);
    assert.equal(forged.headers.location, undefined);

    const pw = formWith(page.body, 'value="password"');
    const wrong = await h.browser.request('/oauth2/account', {
      method: 'POST',
      body: new URLSearchParams({ ...pw, current: 'not it at all', password: 'a brand new passphrase' }).toString(),
      headers: { origin: 'https://auth.example.test' },
    });
    assert.equal(wrong.status, 400);
    assert.match(wrong.body, /<p class="error" role="alert" id="err">Your current password is not right\.<\/p>/);
    assert.equal(await sessionStatus(inst, h.sessionCookie), 200);
  });
});
