// `gatehouse doctor kube` (issue 5): the kube-apiserver AuthenticationConfiguration and RBAC
// bindings, exactly; and an ID token from a real sign-in checked against what the printed
// config accepts (the apiserver's JWT authenticator rules applied to the printed values).
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oidc from 'openid-client';
import { runCli } from '../../src/cli/index.ts';
import { send } from '../kit/http.ts';
import { ALICE, BOB, fakeIO, type Instance, SECRET_A, startInstance } from '../kit/server.ts';
import { authorize, discover, GRAFANA_CB, GRAFANA_SECRET, HTTPS, issuerConfig, PortalClient } from '../kit/issuer.ts';
import { tempDir } from '../kit/temp.ts';

const KUBE_CB = 'http://localhost:8000/callback';
const kubeClient = { id: 'kubernetes', public: true, redirectUris: [KUBE_CB], firstParty: true };

let dir: string;
before(async () => {
  dir = await tempDir('kube');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function doctorKube(config: Record<string, unknown>, ...flags: string[]) {
  const path = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(path, stringify({ dataDir: dir, secrets: { session: SECRET_A }, ...config }));
  const io = fakeIO('', {});
  const code = await runCli(['doctor', 'kube', '--config', path, ...flags], io);
  return { code, out: io.stdout.join('\n'), err: io.stderr };
}

const BINDING = (name: string, group: string, role = 'view') => `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ${name}
  labels:
    app.kubernetes.io/managed-by: gatehouse
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ${role}
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: Group
    name: oidc:${group}`;

describe('gatehouse doctor kube: the printed config', () => {
  test('the issuer exactly, the kubernetes client as audience, preferred_username and groups with oidc:, one binding per configured group', async () => {
    const r = await doctorKube({
      publicUrl: 'https://auth.example.org',
      groups: [{ name: 'admins', members: [] }],
      apps: [
        { name: 'grafana', hosts: ['grafana.example.org'], allow: { groups: ['admins', 'Dev Team'] } },
        { name: 'ops', hosts: ['ops.example.org'], allow: { groups: ['ops'] } },
      ],
      clients: [
        kubeClient,
        {
          id: 'grafana',
          secret: 'grafana-secret-0123456789',
          redirectUris: ['https://grafana.example.org/cb'],
          allowedGroups: ['viewers'],
        },
      ],
    });
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.deepEqual(r.err, []);
    assert.equal(
      r.out,
      `# kube-apiserver: --authentication-config=<this first document> (Kubernetes 1.30+; v1 from 1.34)
# kubectl: kubectl oidc-login get-token --oidc-issuer-url=https://auth.example.org --oidc-client-id=kubernetes --oidc-extra-scope=profile,email,groups
# RBAC: every group below is bound to the ClusterRole "view"; edit roleRef.name per group (view, edit, admin, cluster-admin)
apiVersion: apiserver.config.k8s.io/v1beta1
kind: AuthenticationConfiguration
jwt:
  - issuer:
      url: https://auth.example.org
      audiences:
        - kubernetes
    claimMappings:
      username:
        claim: preferred_username
        prefix: "oidc:"
      groups:
        claim: groups
        prefix: "oidc:"
      uid:
        claim: sub
---
${BINDING('gatehouse-admins', 'admins')}
---
${BINDING('gatehouse-dev-team', 'Dev Team')}
---
${BINDING('gatehouse-ops', 'ops')}`,
    );
  });

  test('--username email adds the email_verified rule; --audience (twice) uses MatchAny; --api-version v1; --role', async () => {
    const r = await doctorKube(
      {
        publicUrl: 'https://auth.example.org/sso',
        clients: [
          kubeClient,
          { id: 'headlamp', public: true, redirectUris: ['https://headlamp.example.org/oidc-callback'], allowedGroups: ['k8s'] },
        ],
      },
      '--username',
      'email',
      '--audience',
      'kubernetes',
      '--audience',
      'headlamp',
      '--api-version',
      'v1',
      '--role',
      'edit',
    );
    assert.equal(r.code, 0, r.err.join('\n'));
    const [auth, binding, ...rest] = parseAllDocuments(r.out).map((d) => d.toJS() as Record<string, unknown>);
    assert.equal(rest.length, 0);
    assert.deepEqual(auth, {
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AuthenticationConfiguration',
      jwt: [
        {
          issuer: { url: 'https://auth.example.org/sso', audiences: ['kubernetes', 'headlamp'], audienceMatchPolicy: 'MatchAny' },
          claimValidationRules: [{ expression: 'claims.?email_verified.orValue(false) == true', message: 'email_verified must be true' }],
          claimMappings: { username: { claim: 'email', prefix: '' }, groups: { claim: 'groups', prefix: 'oidc:' }, uid: { claim: 'sub' } },
        },
      ],
    });
    // The audience client's allowedGroups are groups in config too.
    assert.deepEqual((binding as { subjects: unknown }).subjects, [
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'oidc:k8s' },
    ]);
    assert.deepEqual((binding as { roleRef: unknown }).roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'edit',
    });
  });

  test('warnings on stderr: an http issuer (the apiserver refuses it), a client whose claims leave out groups, no groups', async () => {
    const r = await doctorKube({
      publicUrl: 'http://auth.example.org',
      clients: [{ ...kubeClient, claims: ['preferred_username'] }],
    });
    assert.equal(r.code, 0);
    assert.deepEqual(r.err, [
      'gatehouse: warning: the issuer http://auth.example.org is not https: the kube-apiserver refuses it (set publicUrl to an https URL)',
      'gatehouse: warning: clients[0].claims leaves out groups: ID tokens for kubernetes lack it, so the apiserver cannot map it',
      'gatehouse: warning: no groups in config (groups[], apps[].allow.groups): no RBAC bindings printed',
    ]);
    assert.match(r.out, /^ {6}url: http:\/\/auth\.example\.org$/m);
  });

  test('refusals: no kubernetes client, an unknown --audience, bad flag values, flags without kube, an unknown check', async () => {
    const base = { publicUrl: 'https://auth.example.org' };
    const none = await doctorKube(base);
    assert.equal(none.code, 1);
    assert.deepEqual(none.err, [
      'gatehouse doctor kube: no client for Kubernetes: add clients[] with id "kubernetes" (kubectl\'s client, such as a public one with redirect http://localhost:8000) or pass --audience ID',
    ]);
    assert.equal(none.out, '');
    const unknown = await doctorKube({ ...base, clients: [kubeClient] }, '--audience', 'kubectl');
    assert.equal(unknown.code, 1);
    assert.deepEqual(unknown.err, [
      "gatehouse doctor kube: --audience kubectl: no clients[] entry has this id (an ID token's aud is its client's id)",
    ]);
    assert.deepEqual((await doctorKube(base, '--username', 'sub')).err, [
      'gatehouse doctor kube: --username must be preferred_username or email',
    ]);
    assert.deepEqual((await doctorKube(base, '--api-version', 'v2')).err, ['gatehouse doctor kube: --api-version must be v1beta1 or v1']);
    const io = fakeIO('', {});
    assert.equal(await runCli(['doctor', '--audience', 'x'], io), 2);
    assert.deepEqual(io.stderr, ['gatehouse doctor: --audience is for `gatehouse doctor kube`']);
    const io2 = fakeIO('', {});
    assert.equal(await runCli(['doctor', 'kubernetes'], io2), 2);
    assert.deepEqual(io2.stderr, ['gatehouse doctor: unknown check "kubernetes" (known: kube, edge)']);
  });
});

interface AuthConfig {
  jwt: {
    issuer: { url: string; audiences: string[] };
    claimValidationRules?: { expression: string }[];
    claimMappings: { username: { claim: string; prefix: string }; groups: { claim: string; prefix: string }; uid: { claim: string } };
  }[];
}

describe('gatehouse doctor kube: a real sign-in against the printed config', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({
      unwatched: true,
      users: [ALICE, BOB],
      config: (d) => {
        const c = issuerConfig(d);
        return { ...c, clients: [...(c.clients as unknown[]), kubeClient] };
      },
    });
  });
  after(async () => {
    await inst.close();
  });

  async function printed(...flags: string[]): Promise<{ auth: AuthConfig; groups: string[] }> {
    const io = fakeIO('', {});
    assert.equal(await runCli(['doctor', 'kube', '--config', inst.configPath, ...flags], io), 0, io.stderr.join('\n'));
    const [auth, ...bindings] = parseAllDocuments(io.stdout.join('\n')).map((d) => d.toJS() as Record<string, unknown>);
    return { auth: auth as unknown as AuthConfig, groups: bindings.flatMap((b) => (b.subjects as { name: string }[]).map((s) => s.name)) };
  }

  /**
   * The kube-apiserver's JWT authenticator with the printed configuration: discovery at
   * issuer.url (its `issuer` identical), https only, RS256/ES256, `iss` exactly issuer.url, `aud`
   * one of audiences, the claim validation rules, then the username and groups mappings (a
   * missing username claim or non-string groups fail the token).
   */
  async function apiserver(auth: AuthConfig, idToken: string): Promise<{ username: string; groups: string[]; uid: string }> {
    const j = auth.jwt[0];
    if (!j) throw new Error('no jwt authenticator');
    const url = new URL(j.issuer.url);
    if (url.protocol !== 'https:') throw new Error('issuer.url must be https');
    const disc = JSON.parse(
      (await send(inst.port, { path: `${url.pathname.replace(/\/$/, '')}/.well-known/openid-configuration`, headers: HTTPS })).body,
    ) as { issuer: string; jwks_uri: string };
    if (disc.issuer !== j.issuer.url) throw new Error(`discovery issuer ${disc.issuer} is not issuer.url`);
    const { alg } = decodeProtectedHeader(idToken);
    if (alg !== 'RS256' && alg !== 'ES256') throw new Error(`unsupported alg ${String(alg)}`);
    const jwks = JSON.parse((await send(inst.port, { path: new URL(disc.jwks_uri).pathname, headers: HTTPS })).body) as JSONWebKeySet;
    const { payload } = await jwtVerify(idToken, createLocalJWKSet(jwks), {
      issuer: j.issuer.url,
      audience: j.issuer.audiences,
      algorithms: ['RS256', 'ES256'],
    });
    for (const rule of j.claimValidationRules ?? []) {
      if (rule.expression !== 'claims.?email_verified.orValue(false) == true')
        throw new Error(`this validator does not know ${rule.expression}`);
      if (payload.email_verified !== true) throw new Error('claim validation rule failed: email_verified must be true');
    }
    const m = j.claimMappings;
    const user = payload[m.username.claim];
    if (typeof user !== 'string' || user === '') throw new Error(`claim ${m.username.claim} is missing`);
    const groups = payload[m.groups.claim];
    if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) throw new Error('groups must be a string array');
    return {
      username: `${m.username.prefix}${user}`,
      groups: groups.map((g: string) => `${m.groups.prefix}${g}`),
      uid: String(payload[m.uid.claim]),
    };
  }

  async function idToken(clientId: string, username: string): Promise<string> {
    const config = clientId === 'grafana' ? await discover(inst, 'grafana', GRAFANA_SECRET) : await discover(inst, clientId);
    const b = new PortalClient(inst);
    const { callback, verifier, state } = await authorize(
      b,
      config,
      { redirect_uri: clientId === 'grafana' ? GRAFANA_CB : KUBE_CB },
      username,
    );
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    return tokens.id_token ?? '';
  }

  test("alice's ID token for kubectl is accepted: username oidc:alice, group oidc:admins, which a printed binding names", async () => {
    const { auth, groups } = await printed();
    const alice = await inst.running.store.users.findByUsername('alice');
    const who = await apiserver(auth, await idToken('kubernetes', 'alice'));
    assert.deepEqual(who, { username: 'oidc:alice', groups: ['oidc:admins'], uid: alice?.id });
    assert.ok(groups.includes('oidc:admins'));
    // The email mapping accepts it too (alice's address is verified).
    const byEmail = await apiserver((await printed('--username', 'email')).auth, await idToken('kubernetes', 'alice'));
    assert.equal(byEmail.username, 'alice@example.test');
  });

  test("refused by the printed config: another client's ID token (aud), and an unverified email under --username email", async () => {
    const { auth } = await printed();
    await assert.rejects(apiserver(auth, await idToken('grafana', 'alice')), /unexpected "aud" claim value/);
    const bob = await inst.running.store.users.findByUsername('bob');
    await inst.running.store.users.update(bob?.id ?? '', { emailVerified: false });
    const email = (await printed('--username', 'email')).auth;
    await assert.rejects(apiserver(email, await idToken('kubernetes', 'bob')), /email_verified must be true/);
    // preferred_username does not depend on the address.
    assert.equal((await apiserver(auth, await idToken('kubernetes', 'bob'))).username, 'oidc:bob');
  });
});
