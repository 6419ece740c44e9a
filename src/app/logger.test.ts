import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, REDACTED } from './logger.ts';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'debug') {
  const out: string[] = [];
  const logger = createLogger({
    level,
    destination: {
      write: (s: string) => {
        out.push(s);
      },
    },
  });
  return { logger, out, json: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const SECRETS = [
  'COOKIEVALUE',
  'BEARERTOKEN',
  'SETCOOKIEVALUE',
  'HUNTER2',
  'ROOTSECRET',
  'TOKENVALUE',
  'CLIENTSECRET',
  'PROXYAUTH',
  'NESTEDPW',
  'REFRESH',
];

test('secrets in headers and well-known fields are redacted at any usual depth', () => {
  const { logger, out, json } = capture();
  logger.info(
    {
      req: {
        method: 'GET',
        headers: {
          cookie: 'gh=COOKIEVALUE',
          authorization: 'Bearer BEARERTOKEN',
          'proxy-authorization': 'Basic PROXYAUTH',
          host: 'a.example.org',
        },
      },
      res: { headers: { 'set-cookie': ['gh=SETCOOKIEVALUE'] } },
      password: 'HUNTER2',
      config: { secrets: { session: 'ROOTSECRET' }, token: 'TOKENVALUE', clientSecret: 'CLIENTSECRET' },
      user: { credentials: { password: 'NESTEDPW' } },
      grant: { refresh_token: 'REFRESH' },
    },
    'hello',
  );
  const text = out.join('');
  for (const s of SECRETS) assert.ok(!text.includes(s), `${s} leaked: ${text}`);
  const [line] = json();
  assert.deepEqual(line?.req, {
    method: 'GET',
    headers: { cookie: REDACTED, authorization: REDACTED, 'proxy-authorization': REDACTED, host: 'a.example.org' },
  });
  assert.deepEqual(line?.res, { headers: { 'set-cookie': REDACTED } });
  assert.equal(line?.password, REDACTED);
  assert.deepEqual(line?.config, { secrets: REDACTED, token: REDACTED, clientSecret: REDACTED });
  assert.deepEqual(line?.user, { credentials: { password: REDACTED } });
  assert.deepEqual(line?.grant, { refresh_token: REDACTED });
  assert.equal(line?.msg, 'hello');
  assert.equal(line?.level, 'info');
  assert.equal(typeof line?.time, 'string');
});

test('child loggers keep their bindings and still redact', () => {
  const { logger, out, json } = capture();
  logger.child({ requestId: 'r-1' }).warn({ cookie: 'COOKIEVALUE', reason: 'bad' }, 'refused');
  assert.ok(!out.join('').includes('COOKIEVALUE'));
  const [line] = json();
  assert.deepEqual(
    { level: line?.level, requestId: line?.requestId, cookie: line?.cookie, reason: line?.reason, msg: line?.msg },
    { level: 'warn', requestId: 'r-1', cookie: REDACTED, reason: 'bad', msg: 'refused' },
  );
});

test('levels below the configured one are dropped; errors keep their stack', () => {
  const { logger, json } = capture('warn');
  logger.debug({}, 'd');
  logger.info({}, 'i');
  logger.warn({}, 'w');
  logger.error({ err: new Error('broken') }, 'e');
  const lines = json();
  assert.deepEqual(
    lines.map((l) => l.msg),
    ['w', 'e'],
  );
  const err = lines[1]?.err as { message: string; stack: string; type: string };
  assert.equal(err.message, 'broken');
  assert.equal(err.type, 'Error');
  assert.match(err.stack, /logger\.test\.ts/);
});
