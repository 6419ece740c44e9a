// The registration screen's pure parts: the redirect-URI rule for web clients (generated), the
// field limits at their edges, and the per-address limit's bounded memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import fc from 'fast-check';
import { ManualClock, MemoryLogger } from '../core/index.ts';
import { createRegistrationGuard, metadataProblem } from './registration.ts';

const host = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}\.(?:example|test|org)$/);
const path = fc.stringMatching(/^(?:\/[A-Za-z0-9._~-]{0,8}){0,3}$/);

test('web clients: every https redirect URI passes, every plain-http non-loopback one is invalid_redirect_uri (generated)', () => {
  fc.assert(
    fc.property(host, path, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), (h, p, port) => {
      const authority = port === undefined ? h : `${h}:${port}`;
      assert.equal(metadataProblem({ redirect_uris: [`https://${authority}${p}`] }), null);
      assert.equal(metadataProblem({ redirect_uris: [`http://${authority}${p}`] })?.error, 'invalid_redirect_uri');
      // Loopback over http is fine (any port, RFC 8252 §7.3), for web and native clients alike.
      for (const lo of ['127.0.0.1', '[::1]', 'localhost'])
        assert.equal(metadataProblem({ redirect_uris: [`http://${lo}:${port ?? 80}${p}`] }), null);
      // Native clients: left to oidc-provider's RFC 8252 rules.
      assert.equal(metadataProblem({ application_type: 'native', redirect_uris: [`com.example.app:${p || '/'}`] }), null);
    }),
  );
});

test('field limits at their edges', () => {
  assert.equal(metadataProblem({ client_name: 'n'.repeat(200) }), null);
  assert.deepEqual(metadataProblem({ client_name: 'n'.repeat(201) }), {
    error: 'invalid_client_metadata',
    description: 'client_name is longer than 200 characters',
  });
  assert.equal(metadataProblem({ logo_uri: `https://x.example/${'a'.repeat(2048 - 18)}` }), null);
  assert.deepEqual(metadataProblem({ logo_uri: `https://x.example/${'a'.repeat(2048 - 17)}` }), {
    error: 'invalid_client_metadata',
    description: 'logo_uri is longer than 2048 characters',
  });
  assert.equal(metadataProblem({ redirect_uris: Array.from({ length: 20 }, (_, i) => `https://x.example/${i}`) }), null);
  assert.equal(metadataProblem({ jwks: { keys: [] } }), null);
  assert.equal(metadataProblem('not an object'), null, 'oidc-provider answers a non-object itself');
});

test('the per-address memory is bounded: the oldest address is forgotten first', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const guard = createRegistrationGuard({
    limits: () => ({ maxBodyBytes: 1024, perAddress: 1, window: 3_600_000 }),
    clock,
    logger: new MemoryLogger(),
    maxAddresses: 3,
  });
  const screen = async (ip: string): Promise<number> => {
    const req = Object.assign(new PassThrough(), { headers: { 'content-length': '2' }, complete: false }) as unknown as IncomingMessage;
    let status = 0;
    const res = {
      writeHead(s: number) {
        status = s;
        return this;
      },
      end() {
        /* answered */
      },
    } as unknown as ServerResponse;
    const pending = guard.screen(req, res, ip, 'register');
    (req as unknown as PassThrough).end('{}');
    const answered = await pending;
    return answered ? status : 0;
  };
  assert.equal(await screen('192.0.2.1'), 0);
  assert.equal(await screen('192.0.2.1'), 429);
  for (const ip of ['192.0.2.2', '192.0.2.3', '192.0.2.4']) assert.equal(await screen(ip), 0);
  assert.equal(guard.trackedAddresses(), 3);
  // 192.0.2.1 was the oldest: forgotten, so it may register again.
  assert.equal(await screen('192.0.2.1'), 0);
});
