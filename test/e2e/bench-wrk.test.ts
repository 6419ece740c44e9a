// The benchmark's parser for wrk's text output (bench/wrk.ts), on a captured wrk 4.1 report.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWrk } from '../../bench/wrk.ts';

const REPORT = `Running 10s test @ http://127.0.0.1:40321/oauth2/auth
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.41ms  501.32us  18.06ms   93.25%
    Req/Sec    22.95k     1.20k   24.31k    89.00%
  Latency Distribution
     50%    1.33ms
     75%    1.46ms
     90%  712.50us
     99%    2.10s
  228434 requests in 10.00s, 27.89MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  22842.17
Transfer/sec:      2.79MB
`;

test('parses requests, rate, latency percentiles with their units, errors', () => {
  const r = parseWrk(REPORT);
  assert.deepEqual(
    { ...r, raw: undefined },
    {
      requests: 228434,
      rps: 22842.17,
      p50Ms: 1.33,
      p90Ms: 0.7125,
      p99Ms: 2100,
      non2xx3xx: 7,
      socketErrors: 3,
      raw: undefined,
    },
  );
});

test('refuses output without the --latency distribution', () => {
  assert.throws(() => parseWrk(REPORT.replace(/ {5}50%.*\n/, '')), { message: /no 50% latency line/ });
});

test('refuses output that is not a wrk report', () => {
  assert.throws(() => parseWrk('wrk: unable to connect\n'), { message: /unexpected output/ });
});
