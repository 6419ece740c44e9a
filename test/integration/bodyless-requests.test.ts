// A request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3). The server
// ends such a request's stream at once, without the Readable's events (optimizeEmptyRequests,
// for the forward-auth check's speed), so every reader of a body must answer it as an empty
// body rather than wait for an 'end' that never comes: each POST below, sent both ways over a
// raw socket, gets the same status and content type, well before the server's request timeout.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import type { Instance } from '../kit/server.ts';
import { startMcpIssuer } from '../kit/mcp.ts';

let inst: Instance;
before(async () => {
  inst = await startMcpIssuer();
});
after(() => inst.close());

interface Raw {
  status: number;
  contentType: string;
}

/** One raw HTTP/1.1 request; the answer's status and content type, or a failure after 5 s without one. */
function raw(port: number, head: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 5 s to: ${head.split('\r\n')[0]}`));
    }, 5_000);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      got += d;
      const end = got.indexOf('\r\n\r\n');
      if (end === -1) return;
      clearTimeout(timer);
      socket.destroy();
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1]);
      const contentType = /\r\ncontent-type: *([^\r]*)/i.exec(got.slice(0, end))?.[1] ?? '';
      resolve({ status, contentType });
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(head);
  });
}

const PORTAL = 'Host: auth.example.test\r\nX-Forwarded-Proto: https\r\n';
const POSTS: { what: string; path: string; headers: string }[] = [
  { what: 'the portal sign-in form', path: '/oauth2/sign_in', headers: `${PORTAL}Content-Type: application/x-www-form-urlencoded\r\n` },
  { what: 'the sign-out form', path: '/oauth2/sign_out', headers: `${PORTAL}Content-Type: application/x-www-form-urlencoded\r\n` },
  { what: 'client registration (RFC 7591)', path: '/oidc/reg', headers: `${PORTAL}Content-Type: application/json\r\n` },
  { what: 'the token endpoint', path: '/oidc/token', headers: `${PORTAL}Content-Type: application/x-www-form-urlencoded\r\n` },
];

for (const p of POSTS) {
  test(`${p.what}: a POST with no body headers is answered as one with Content-Length: 0`, async () => {
    const empty = await raw(inst.port, `POST ${p.path} HTTP/1.1\r\n${p.headers}Content-Length: 0\r\nConnection: close\r\n\r\n`);
    const none = await raw(inst.port, `POST ${p.path} HTTP/1.1\r\n${p.headers}Connection: close\r\n\r\n`);
    assert.ok(empty.status >= 200 && empty.status < 600, `a status for Content-Length: 0 (${empty.status})`);
    assert.deepEqual(none, empty);
  });
}
