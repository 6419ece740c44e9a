import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeExpositions } from './metrics-merge.ts';

const one = `# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{route="healthz",outcome="2xx"} 3
# HELP d Durations.
# TYPE d histogram
d_bucket{le="0.1"} 1
d_bucket{le="+Inf"} 2
d_sum 0.3
d_count 2
# HELP up Up.
# TYPE up gauge
up 1
`;
const two = `# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{route="healthz",outcome="2xx"} 5
# HELP d Durations.
# TYPE d histogram
d_bucket{le="0.1"} 0
d_bucket{le="+Inf"} 1
d_sum 0.5
d_count 1
# HELP only_two Loaded here only.
# TYPE only_two counter
only_two{} 7
`;

test('mergeExpositions: every family once, each sample labelled with its worker, the primary text after', () => {
  assert.equal(
    mergeExpositions(
      [
        { worker: 1, text: one },
        { worker: 2, text: two },
      ],
      '# TYPE gatehouse_workers gauge\ngatehouse_workers 2\n',
    ),
    `# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{worker="1",route="healthz",outcome="2xx"} 3
http_requests_total{worker="2",route="healthz",outcome="2xx"} 5
# HELP d Durations.
# TYPE d histogram
d_bucket{worker="1",le="0.1"} 1
d_bucket{worker="1",le="+Inf"} 2
d_sum{worker="1"} 0.3
d_count{worker="1"} 2
d_bucket{worker="2",le="0.1"} 0
d_bucket{worker="2",le="+Inf"} 1
d_sum{worker="2"} 0.5
d_count{worker="2"} 1
# HELP up Up.
# TYPE up gauge
up{worker="1"} 1
# HELP only_two Loaded here only.
# TYPE only_two counter
only_two{worker="2"} 7
# TYPE gatehouse_workers gauge
gatehouse_workers 2
`,
  );
});

test('mergeExpositions: one worker alone is labelled too', () => {
  assert.equal(mergeExpositions([{ worker: 3, text: '# TYPE up gauge\nup 1\n' }]), '# TYPE up gauge\nup{worker="3"} 1\n');
});
