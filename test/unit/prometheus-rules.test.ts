import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { Metrics } from '../../src/http/index.ts';
import { primaryMetrics } from '../../src/app/primary.ts';

interface Rule {
  alert: string;
  expr: string;
}

test('every series the shipped Prometheus rules use is exported by the process', async () => {
  const doc = parse(readFileSync(new URL('../../deploy/prometheus/gatehouse-rules.yaml', import.meta.url), 'utf8')) as {
    groups: { rules: Rule[] }[];
  };
  const metrics = new Metrics({ version: 'test' });
  // Touch every labelled series once so it appears in the exposition.
  metrics.configReload('failure');
  metrics.signIn('failure');
  metrics.observe('forward_auth', 'GET', '5xx', performance.now());
  // Under serve --workers a scrape also carries the primary's series.
  const body = (await metrics.render()).body + primaryMetrics({ configured: 2, ready: 2, restarts: 0, relayed: 0 });
  metrics.close();
  const exported = new Set(
    body
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/[{ ]/)[0]),
  );
  const rules = doc.groups.flatMap((g) => g.rules);
  assert.equal(rules.length, 5);
  for (const r of rules) {
    const names = [...r.expr.matchAll(/\b([a-z_]+(?:_total|_seconds_bucket|_seconds))\b/g)].map((m) => m[1] as string);
    assert.ok(names.length > 0, `${r.alert} names no series`);
    for (const n of names) assert.ok(exported.has(n), `${r.alert}: ${n} is not exported`);
    // Label values used in the rule exist on the exported series.
    for (const [, label, value] of r.expr.matchAll(/(route|outcome|result)="([a-z_0-9]+)"/g)) {
      assert.ok(body.includes(`${label}="${value}"`), `${r.alert}: ${label}="${value}" never appears`);
    }
  }
});
