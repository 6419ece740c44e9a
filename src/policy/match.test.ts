import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostMatches, compilePathPattern, compileNetworks, cidrProblem } from './index.ts';

// [pattern, host, matches, why]
const hosts: [string, string, boolean, string][] = [
  ['grafana.example.org', 'grafana.example.org', true, 'exact'],
  ['grafana.example.org', 'GRAFANA.Example.ORG', true, 'case-insensitive'],
  ['grafana.example.org', 'grafana.example.org.', true, 'trailing dot'],
  ['grafana.example.org', 'grafana.example.org:443', true, 'default https port'],
  ['grafana.example.org', 'grafana.example.org:80', true, 'default http port'],
  ['grafana.example.org', 'grafana.example.org.:443', true, 'trailing dot and port'],
  ['grafana.example.org', 'grafana.example.org:8443', true, 'a pattern without a port matches any port'],
  ['grafana.example.org:3000', 'grafana.example.org:8443', false, 'a pattern with a port matches only that port'],
  ['grafana.example.org:3000', 'grafana.example.org', false, 'a pattern with a port needs the port'],
  ['grafana.example.org', 'xgrafana.example.org', false, 'longer name'],
  ['grafana.example.org', 'grafana.example.org.evil.com', false, 'suffix appended'],
  ['grafana.example.org', 'a.grafana.example.org', false, 'exact pattern takes no subdomain'],
  ['grafana.example.org:3000', 'grafana.example.org:3000', true, 'pattern with port'],
  ['grafana.example.org:3000', 'grafana.example.org', false, 'pattern port required'],
  ['*.example.org', 'a.example.org', true, 'one label'],
  ['*.example.org', 'a.b.example.org', true, 'two labels'],
  ['*.example.org', 'A.Example.Org.', true, 'case and trailing dot'],
  ['*.example.org', 'a.example.org:443', true, 'default port'],
  ['*.example.org', 'a.example.org:8080', true, 'a wildcard without a port matches any port'],
  ['*.example.org:8443', 'a.example.org:8080', false, 'a wildcard with a port matches only that port'],
  ['*.example.org', 'example.org', false, 'apex is not a subdomain'],
  ['*.example.org', 'evilexample.org', false, 'label boundary'],
  ['*.example.org', '.example.org', false, 'empty label'],
  ['*.example.org', 'a..example.org', false, 'empty inner label'],
  ['*.example.org', 'a..b.example.org', false, 'empty label further left'],
  ['*.example.org', 'example.org.evil.com', false, 'suffix appended'],
  ['*.example.org', 'a.example.org.evil.com', false, 'subdomain then suffix'],
  ['*.example.org', 'evil.com:1.example.org', false, 'colon smuggled before the suffix'],
  ['*.example.org:8443', 'a.example.org:8443', true, 'wildcard with port'],
  ['*.example.org:8443', 'a.example.org', false, 'wildcard port required'],
  ['[::1]:8080', '[::1]:8080', true, 'IPv6 literal with port'],
];
for (const [pattern, host, expected, why] of hosts) {
  test(`hostMatches(${pattern}, ${host}) is ${expected}: ${why}`, () => {
    assert.equal(hostMatches(pattern, host), expected);
  });
}

const paths: [string, string, boolean][] = [
  ['/api/', '/api/', true],
  ['/api/', '/api/x/y', true],
  ['/api/', '/api', false],
  ['/api/', '/apix', false],
  ['/api', '/api', true],
  ['/api', '/api/', true],
  ['/api', '/api/x', true],
  ['/api', '/apix', false],
  ['/api', '/', false],
  ['/adsb/*', '/adsb/x', true],
  ['/adsb/*', '/adsb/x/y', false],
  ['/adsb/*', '/adsb/', false],
  ['/adsb/*', '/adsb', false],
  ['/adsb/*', '/adsbx/y', false],
  ['/static/**', '/static/', true],
  ['/static/**', '/static/a', true],
  ['/static/**', '/static/a/b/c', true],
  ['/static/**', '/static', false],
  ['/static/**', '/staticx/a', false],
  ['/files/*.png', '/files/a.png', true],
  ['/files/*.png', '/files/a/b.png', false],
  ['/files/*.png', '/files/.png', false],
  ['/files/*.png', '/files/apng', false],
  ['/u/*/avatar', '/u/alice/avatar', true],
  ['/u/*/avatar', '/u/a/b/avatar', false],
  ['/u/*/avatar', '/u/alice/avatarx', false],
  ['/a/**/z', '/a/b/c/z', true],
  ['/a/**/z', '/a/b/c/y', false],
  ['/', '/', true],
  ['/', '/anything/at/all', true],
];
for (const [pattern, path, expected] of paths) {
  test(`path pattern ${pattern} on ${path} is ${expected}`, () => {
    assert.equal(compilePathPattern(pattern)(path), expected);
  });
}

test('networks: IPv4, IPv6, single addresses, IPv4-mapped IPv6, junk', () => {
  const inNet = compileNetworks(['10.0.0.0/8', '192.168.1.5', 'fd00::/8', '::1/128']);
  const rows: [string, boolean][] = [
    ['10.1.2.3', true],
    ['11.0.0.1', false],
    ['192.168.1.5', true],
    ['192.168.1.6', false],
    ['fd00::1', true],
    ['FD12:3456::1', true],
    ['fe80::1', false],
    ['::1', true],
    ['::2', false],
    ['::ffff:10.0.0.1', true],
    ['::FFFF:10.0.0.1', true],
    ['::ffff:a00:1', true],
    ['::ffff:11.0.0.1', false],
    ['::ffff:192.168.1.5', true],
    ['garbage', false],
    ['', false],
    ['10.0.0.1/8', false],
    ['fe80::1%eth0', false],
  ];
  for (const [ip, expected] of rows) assert.equal(inNet(ip), expected, ip);
  // An empty list matches nothing.
  assert.equal(compileNetworks([])('10.0.0.1'), false);
});

test('cidrProblem names what is wrong', () => {
  assert.equal(cidrProblem('10.0.0.0/8'), undefined);
  assert.equal(cidrProblem('::1/128'), undefined);
  assert.equal(cidrProblem('192.168.1.5'), undefined);
  assert.equal(cidrProblem('999.1.1.1'), 'expected an IP address or CIDR such as 10.0.0.0/8 or ::1/128');
  assert.equal(cidrProblem('10.0.0.0/33'), 'expected a prefix length from 0 to 32');
  assert.equal(cidrProblem('fd00::/129'), 'expected a prefix length from 0 to 128');
  assert.equal(cidrProblem('10.0.0.0/'), 'expected a prefix length from 0 to 32');
});
