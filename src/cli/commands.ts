// The commands. Each parses its own flags (unknown flags are errors), does one job, and
// returns an exit code. `--help` on each prints its usage.
import type { ParseArgsConfig } from 'node:util';
import { parseDuration, randomId, silentLogger, type Logger } from '../core/index.ts';
import { embeddedConfig, isLocalHost, lintConfig, type LoadedConfig } from '../config/index.ts';
import { Accounts, SignInThrottle } from '../accounts/index.ts';
import { compilePolicy, explain } from '../policy/index.ts';
import { ownPath } from '../gateway/index.ts';
import { createLogger, databaseUrl, installProcessGuards, resolveSecrets, rotateGeneratedSecret, startGatehouse } from '../app/index.ts';
import { KeyRing } from '../crypto/index.ts';
import { agentsFor, agentSubject, rotateSigningKeys } from '../issuer/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { systemClock } from '../core/index.ts';
import type { CliIO } from './io.ts';
import { configPath, ensureDataDir, loadFor, reportError, withStore } from './context.ts';
import { kubeAuthentication, KubeConfigProblem } from './doctor-kube.ts';
import { auditCommand } from './audit.ts';
import { BACKUP_COMMANDS } from './backup.ts';
import { doctorEdge, EDGE_OPTIONS, EDGE_USAGE } from './doctor-edge.ts';
import { inviteCommand, userResetLink } from './invite.ts';

const OWN_PATH_DECISION = {
  'no-original': 'decision: deny: /oauth2/auth is the forward-auth endpoint itself; a proxy that reports it as the original request named none (check trustedProxies[].kind): 403',
  gate: "decision: public: one of the gate's own paths (/oauth2/start, /oauth2/sign_in, /oauth2/sign_out, /oauth2/ticket, /oauth2/callback), passed without an identity",
  portal: "decision: public: the portal's own path on its host (under publicUrl), passed without an identity",
} as const;

export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(args: { values: Record<string, string | boolean | undefined>; positionals: string[] }, io: CliIO): Promise<number>;
}

const CONFIG = { config: { type: 'string', short: 'c' } } as const;
const CONFIG_HELP = '  -c, --config PATH   config file or directory (default: $GATEHOUSE_CONFIG, else the embedded defaults)';

function accountsFor(loaded: LoadedConfig, store: Parameters<Parameters<typeof withStore>[2]>[0], logger: Logger): Accounts {
  const t = loaded.config.signIn.throttle;
  return new Accounts({
    store, clock: systemClock, logger, groups: loaded.config.groups,
    throttle: new SignInThrottle({ perAccount: t.perAccount, perAddress: t.perAddress, windowMs: t.window }, systemClock),
  });
}

async function readPassword(values: Record<string, string | boolean | undefined>, io: CliIO): Promise<{ password: string; generated: boolean }> {
  if (values['password-stdin']) {
    const text = (await io.readStdin()).replace(/\r?\n$/, '');
    if (text.length < 8) throw new Error('the password on standard input is shorter than 8 characters');
    return { password: text, generated: false };
  }
  return { password: randomId(15), generated: true };
}

const list = (v: string | boolean | undefined): string[] =>
  typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : [];

const USER_USAGE = `gatehouse user add NAME [--email E] [--name N] [--groups a,b] [--password-stdin]
gatehouse user passwd NAME [--password-stdin]
gatehouse user disable NAME
gatehouse user enable NAME
gatehouse user delete NAME
gatehouse user grants NAME
gatehouse user revoke-grant NAME CLIENT_ID
gatehouse user list
gatehouse user identities NAME
gatehouse user unlink NAME --connector ID
gatehouse user reset-link NAME

Without --password-stdin a random password is generated and printed once.
disable and delete end every session of the account on every replica, revoke its OpenID grants
  and refresh tokens, and its access tokens are refused by the gate within 2 seconds; delete also
  removes its remembered consents and linked identities.
grants lists the clients the account allowed (remembered consent): client, scopes (a resource's
  scopes as scope@resource), resources, when first and last allowed. revoke-grant forgets one (the client asks again) and revokes its
  grants and refresh tokens.
identities lists the upstream identities (connectors) linked to the account: connector, upstream
  subject, upstream username and email, when it was linked and last refreshed.
unlink removes the account's link at that connector and ends every session of the account
  (a session records only its user, not the connector it was signed in with); the next sign-in
  with that provider links again as on a first sign-in (createAccounts, linkByEmail).
reset-link prints a single-use link (passwordReset.linkLifetime, 30 minutes by default) with
  which the person chooses a new password; using it ends every session and refresh grant.
${CONFIG_HELP}`;

const iso = (ms: number): string => new Date(ms).toISOString();

async function userIdentities(store: Store, username: string, io: CliIO): Promise<number> {
  const user = await store.users.findByUsername(username);
  if (!user) { io.err(`gatehouse: no user named "${username}"`); return 1; }
  const rows = await store.identities.forUser(user.id);
  for (const r of rows) {
    io.out(`${r.connectorId}\t${r.subject}\t${r.username ?? '-'}\t${r.email ?? '-'}\tlinked ${iso(r.createdAt)}\trefreshed ${iso(r.refreshedAt)}`);
  }
  if (rows.length === 0) io.out(`${user.username} has no linked identities`);
  return 0;
}

async function userUnlink(store: Store, username: string, connectorId: string, io: CliIO): Promise<number> {
  const user = await store.users.findByUsername(username);
  if (!user) { io.err(`gatehouse: no user named "${username}"`); return 1; }
  const rows = await store.identities.forUser(user.id, connectorId);
  if (rows.length === 0) { io.err(`gatehouse: ${user.username} has no identity linked at connector "${connectorId}"`); return 1; }
  const subjects: string[] = [];
  for (const r of rows) if (await store.identities.unlink(r.connectorId, r.subject)) subjects.push(r.subject);
  // Sessions record their user but not their connector (that is only in the sealed cookie), so
  // every session of the user ends. Running instances would end a session made with this
  // connector only when they next load it; the revocations end them within a second everywhere.
  const now = systemClock.now();
  const revoked = await store.sessions.revokeForUser(user.id, now);
  for (const sid of revoked) await store.revocations.publish(sid);
  await store.audit.append({
    at: now, actor: 'cli', action: 'identity_unlink', outcome: 'ok', target: user.username,
    detail: { connector: connectorId, subjects, sessionsEnded: revoked.length },
  });
  io.out(`unlinked ${user.username} from ${connectorId} (subject ${subjects.join(', ')}); ended ${revoked.length} session(s)`);
  return 0;
}

export const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run Gatehouse (with no config: SQLite under ./data, a generated secret, a demo app, on 127.0.0.1:4180)',
    usage: `gatehouse serve [--config PATH] [--port PORT]\n\n${CONFIG_HELP}\n  -p, --port PORT     the TCP port to listen on (default: $GATEHOUSE_PORT, else listen.port, else 4180 —\n                      also oauth2-proxy's default, so often taken); without a config file the demo's\n                      publicUrl follows it\n\nSIGHUP or a change to the config file reloads it; an invalid config is refused and the old one keeps serving.`,
    options: { ...CONFIG, port: { type: 'string', short: 'p' } },
    async run({ values }, io) {
      const path = configPath(values.config as string | undefined, io);
      const fromFlag = values.port as string | undefined;
      const portText = fromFlag ?? (io.env.GATEHOUSE_PORT || undefined);
      let port: number | undefined;
      if (portText !== undefined) {
        // Port 0 (any free port) only with a config file: the demo's publicUrl must name the port.
        const min = path ? 0 : 1;
        port = /^\d{1,5}$/.test(portText) ? Number(portText) : -1;
        if (port < min || port > 65535) {
          io.err(`gatehouse serve: ${fromFlag !== undefined ? '--port' : 'GATEHOUSE_PORT'}: expected a port number from ${min} to 65535, got "${portText}"`);
          return 2;
        }
      }
      let loaded = await loadFor(path, io);
      if (port !== undefined) {
        loaded = path ? { ...loaded, config: { ...loaded.config, listen: { ...loaded.config.listen, port } } } : embeddedConfig(undefined, port);
      }
      for (const l of loaded.lints) io.err(`gatehouse: warning: ${l.path}: ${l.message}`);
      // A config file's publicUrl on this machine names the port the printed sign-in URLs use;
      // one the override moved away from them makes those URLs lead nowhere.
      if (path && port !== undefined && port !== 0 && loaded.config.publicUrl !== undefined) {
        const u = new URL(loaded.config.publicUrl);
        const named = u.port || (u.protocol === 'https:' ? '443' : '80');
        if (isLocalHost(u.hostname) && named !== String(port)) {
          io.err(`gatehouse: warning: publicUrl ${u.origin} names port ${named}, but ${fromFlag !== undefined ? '--port' : 'GATEHOUSE_PORT'} makes Gatehouse listen on ${port}: the URLs it prints work only through a proxy or a port mapping to ${named} (change publicUrl to match)`);
        }
      }
      await ensureDataDir(loaded.config);
      const logger = createLogger({ level: loaded.config.log.level });
      const running = await startGatehouse({ loaded, ...(path ? { configPath: path } : {}), logger, announce: io.out, env: io.env });
      installProcessGuards({
        proc: process, logger, exit: (code) => process.exit(code), stderr: (line) => io.err(line),
        stopListening: () => { running.server.close(); },
      });
      process.on('SIGHUP', () => { void running.reload('sighup'); });
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, 'shutting down');
          running.close().then(resolve, resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      return 0;
    },
  },

  check: {
    summary: 'validate a config: print every problem with its path; exit 1 if there is any error',
    usage: `gatehouse check [--config PATH]\n\n${CONFIG_HELP}`,
    options: { ...CONFIG },
    async run({ values }, io) {
      const loaded = await loadFor(values.config as string | undefined, io);
      const warnings = loaded.lints.filter((l) => l.severity === 'warning');
      for (const l of warnings) io.out(`warning: ${l.path}: ${l.message}`);
      io.out(`config OK (${loaded.sources.length ? loaded.sources.join(', ') : 'embedded defaults'})${warnings.length ? `, ${warnings.length} warning(s)` : ''}`);
      return 0;
    },
  },

  migrate: {
    summary: 'apply database migrations (up) or show the schema version (status)',
    usage: `gatehouse migrate up|status [--config PATH]\n\n${CONFIG_HELP}`,
    options: { ...CONFIG },
    async run({ values, positionals }, io) {
      const sub = positionals[0];
      const loaded = await loadFor(values.config as string | undefined, io);
      const logger = createLogger({ level: loaded.config.log.level });
      const store = await openStore({ url: databaseUrl(loaded.config), logger, lockTimeoutMs: loaded.config.database.migrationLockTimeout });
      try {
        if (sub === 'up') {
          const { applied } = await store.migrate();
          io.out(applied.length ? `applied migrations ${applied.join(', ')}` : 'already up to date');
          const st = await store.schemaStatus();
          io.out(`schema version ${st.current} (this release knows up to ${st.latest})`);
          return 0;
        }
        if (sub === 'status') {
          const st = await store.schemaStatus();
          io.out(`schema version ${st.current}; this release knows up to ${st.latest}`);
          for (const p of st.pending) io.out(`pending: ${p.version} ${p.name}`);
          if (st.current > st.latest) {
            io.out('the database is newer than this release: run the newer release; never downgrade against a migrated database');
            return 1;
          }
          return 0;
        }
        io.err('gatehouse: migrate needs a subcommand: up or status');
        return 2;
      } finally { await store.close(); }
    },
  },

  user: {
    summary: 'manage local accounts: add, passwd, disable, enable, delete, list; their grants to clients; linked upstream identities',
    usage: USER_USAGE,
    options: {
      ...CONFIG, email: { type: 'string' }, name: { type: 'string' }, groups: { type: 'string' }, 'password-stdin': { type: 'boolean' },
      connector: { type: 'string' },
    },
    async run({ values, positionals }, io) {
      const [sub, username] = positionals;
      // A usage mistake is reported before the store is opened.
      if (sub === 'unlink' && typeof values.connector !== 'string') {
        io.err(`gatehouse: user unlink needs --connector ID\n\nusage: ${USER_USAGE}`);
        return 2;
      }
      // `user disable alice --connector github` must not read as "disable only that link".
      if (sub !== 'unlink' && values.connector !== undefined) {
        io.err(`gatehouse: --connector is for \`gatehouse user unlink\`\n\nusage: ${USER_USAGE}`);
        return 2;
      }
      const loaded = await loadFor(values.config as string | undefined, io);
      return withStore(loaded, silentLogger, async (store) => {
        const accounts = accountsFor(loaded, store, silentLogger);
        if (sub === 'list') {
          for (const u of await store.users.list()) {
            io.out(`${u.username}\t${u.email ?? '-'}\t${u.groups.join(',') || '-'}\t${u.disabled ? 'disabled' : 'active'}`);
          }
          return 0;
        }
        if (!username) { io.err(`gatehouse: user ${sub ?? ''} needs a username`); return 2; }
        if (sub === 'add') {
          const { password, generated } = await readPassword(values, io);
          await accounts.create({
            username, email: (values.email as string | undefined) ?? null, name: (values.name as string | undefined) ?? null,
            groups: list(values.groups), password,
          });
          io.out(`added user ${username}`);
          if (generated) io.out(`one-time password: ${password}`);
          return 0;
        }
        if (sub === 'passwd') {
          const { password, generated } = await readPassword(values, io);
          await accounts.setPassword(username, password);
          io.out(`changed the password of ${username}`);
          if (generated) io.out(`new password: ${password}`);
          return 0;
        }
        if (sub === 'disable' || sub === 'delete') {
          const r = sub === 'disable' ? await accounts.disable(username) : await accounts.delete(username);
          await store.audit.append({ at: Date.now(), actor: 'cli', action: `user_${sub}`, outcome: 'ok', target: username, detail: { sessionsEnded: r.sessions.length, grantsRevoked: r.grants } });
          io.out(`${sub === 'disable' ? 'disabled' : 'deleted'} ${username}; ended ${r.sessions.length} session(s), revoked ${r.grants} OpenID record(s) (grants, refresh tokens, OpenID sessions)`);
          return 0;
        }
        if (sub === 'enable') {
          const user = await accounts.find(username);
          if (!user) { io.err(`gatehouse: no user named "${username}"`); return 1; }
          await store.users.update(user.id, { disabled: false });
          await store.audit.append({ at: Date.now(), actor: 'cli', action: 'user_enable', outcome: 'ok', target: username, detail: {} });
          io.out(`enabled ${username}: they can sign in again (ended sessions and revoked tokens stay ended)`);
          return 0;
        }
        if (sub === 'grants') {
          const user = await accounts.find(username);
          if (!user) { io.err(`gatehouse: no user named "${username}"`); return 1; }
          const consents = await store.consents.list(user.id);
          for (const c of consents) {
            io.out(`${c.clientId}\t${c.scopes.join(' ') || '-'}\t${c.resources.join(' ') || '-'}\tallowed ${new Date(c.createdAt).toISOString()}\tlast ${new Date(c.updatedAt).toISOString()}`);
          }
          if (consents.length === 0) io.out(`${username} has allowed no client`);
          return 0;
        }
        if (sub === 'revoke-grant') {
          const clientId = positionals[2];
          if (!clientId) { io.err(`gatehouse: user revoke-grant needs a client id\n\nusage: ${USER_USAGE}`); return 2; }
          const r = await accounts.revokeGrant(username, clientId);
          if (r.consents === 0 && r.grants === 0) { io.err(`gatehouse: ${username} has no grant for client "${clientId}"`); return 1; }
          await store.audit.append({ at: Date.now(), actor: 'cli', action: 'grant_revoke', outcome: 'ok', target: username, detail: { client: clientId, grantsRevoked: r.grants } });
          io.out(`revoked ${username}'s grant for ${clientId}: the client asks again; ${r.grants} OpenID record(s) revoked`);
          return 0;
        }
        if (sub === 'identities') return userIdentities(store, username, io);
        if (sub === 'unlink') return userUnlink(store, username, values.connector as string, io);
        if (sub === 'reset-link') return userResetLink(loaded, store, username, io);
        io.err('gatehouse: user needs a subcommand: add, passwd, disable, enable, delete, list, grants, revoke-grant, identities, unlink or reset-link');
        return 2;
      });
    },
  },

  session: {
    summary: 'list or revoke browser sessions',
    usage: `gatehouse session list [--user NAME]
gatehouse session revoke ID
gatehouse session revoke --user NAME

A revocation reaches every replica within a second. --user also revokes the user's OpenID
grants and refresh tokens.
${CONFIG_HELP}`,
    options: { ...CONFIG, user: { type: 'string' } },
    async run({ values, positionals }, io) {
      const [sub, id] = positionals;
      const loaded = await loadFor(values.config as string | undefined, io);
      return withStore(loaded, silentLogger, async (store) => {
        const now = Date.now();
        const userName = values.user as string | undefined;
        const user = userName ? await store.users.findByUsername(userName) : undefined;
        if (userName && !user) { io.err(`gatehouse: no user named "${userName}"`); return 1; }
        if (sub === 'list') {
          const sessions = await store.sessions.list({ activeAt: now, ...(user ? { userId: user.id } : {}) });
          const names = new Map((await store.users.list()).map((u) => [u.id, u.username]));
          for (const s of sessions) {
            io.out(`${s.id}\t${names.get(s.userId) ?? s.userId}\tcreated ${new Date(s.createdAt).toISOString()}\tlast seen ${new Date(s.lastSeenAt).toISOString()}\t${s.ip ?? '-'}`);
          }
          if (sessions.length === 0) io.out('no active sessions');
          return 0;
        }
        if (sub === 'revoke') {
          const ids = user ? await store.sessions.revokeForUser(user.id, now) : id && (await store.sessions.revoke(id, now)) ? [id] : [];
          if (!user && !id) { io.err('gatehouse: session revoke needs a session id or --user NAME'); return 2; }
          for (const sid of ids) await store.revocations.publish(sid);
          // All of a user's sessions: their refresh tokens and OpenID sessions go too.
          const grants = user ? await store.oidc.revokeForAccount(user.id) : 0;
          io.out(ids.length || grants ? `revoked ${ids.length} session(s)${user ? ` and ${grants} OpenID record(s) (grants, refresh tokens)` : ''}` : 'no such active session');
          return ids.length || user ? 0 : 1;
        }
        io.err('gatehouse: session needs a subcommand: list or revoke');
        return 2;
      });
    },
  },

  agent: {
    summary: 'machine identities: OAuth clients (client_credentials) whose tokens carry their groups',
    usage: `gatehouse agent create NAME [--groups a,b] [--ttl 8h] [--config PATH]
gatehouse agent list [--config PATH]
gatehouse agent delete NAME [--config PATH]

create prints the client id (agent.NAME) and its secret once; the agent gets tokens with
  curl -u 'agent.NAME:SECRET' -d grant_type=client_credentials -d resource=https://mcp.example.org/mcp \\
    -d scope=... https://auth.example.org/oidc/token
Its tokens say sub: agent:NAME and carry its groups. --ttl ends the agent (default: never).
The first client id form, agent:NAME, still works where the tool form-encodes it (RFC 6749
§2.3.1: agent%3ANAME in Basic) or sends it in the body (client_id=agent:NAME&client_secret=…).
delete (or the end of the TTL) makes /oidc/token refuse it at once (invalid_client).
${CONFIG_HELP}`,
    options: { ...CONFIG, groups: { type: 'string' }, ttl: { type: 'string' } },
    async run({ values, positionals }, io) {
      const [sub, name] = positionals;
      if (sub !== 'create' && sub !== 'list' && sub !== 'delete') { io.err('gatehouse: agent needs a subcommand: create, list or delete'); return 2; }
      if (sub !== 'list' && !name) { io.err(`gatehouse: agent ${sub} needs a NAME`); return 2; }
      const ttl = typeof values.ttl === 'string' ? parseDuration(values.ttl) : null;
      if (ttl === undefined) { io.err('gatehouse: --ttl expects a duration such as 90s, 15m, 8h or 7d'); return 2; }
      const loaded = await loadFor(values.config as string | undefined, io);
      const { secrets } = await resolveSecrets(loaded.config.secrets.session, loaded.config.dataDir);
      const keyring = KeyRing.fromSecrets(secrets);
      return withStore(loaded, silentLogger, async (store) => {
        const agents = agentsFor(store.oidc, keyring, systemClock);
        if (sub === 'create') {
          const r = await agents.create(name ?? '', { groups: list(values.groups), ttlMs: ttl });
          await store.audit.append({ at: systemClock.now(), actor: 'cli', action: 'agent_create', outcome: 'ok', target: agentSubject(r.agent.name), detail: { clientId: r.clientId, groups: r.agent.groups, expiresAt: r.agent.expiresAt } });
          io.out(`created agent ${r.agent.name}${r.agent.expiresAt === null ? '' : `, valid until ${new Date(r.agent.expiresAt).toISOString()}`}`);
          io.out(`  client_id:     ${r.clientId}`);
          io.out(`  client_secret: ${r.clientSecret}`);
          io.out('  (the secret is not shown again)');
          return 0;
        }
        if (sub === 'list') {
          for (const a of await agents.list()) {
            io.out(`${a.name}\tgroups=${a.groups.join(',') || '-'}\tcreated=${new Date(a.createdAt).toISOString()}\texpires=${a.expiresAt === null ? 'never' : new Date(a.expiresAt).toISOString()}`);
          }
          return 0;
        }
        if (!(await agents.delete(name ?? ''))) { io.err(`gatehouse: no agent "${name}"`); return 1; }
        await store.audit.append({ at: systemClock.now(), actor: 'cli', action: 'agent_delete', outcome: 'ok', target: agentSubject(name ?? ''), detail: {} });
        io.out(`deleted agent ${name}: its tokens are refused from now on`);
        return 0;
      });
    },
  },

  audit: auditCommand,

  invite: inviteCommand,

  keys: {
    summary: 'rotate the issuer\'s signing keys and the root secret (old ones keep verifying and opening what they made)',
    usage: `gatehouse keys rotate [--signing | --secret] [--config PATH]

Signing keys (--signing, or no flag): a new ES256 and RS256 pair signs from now on; the old
pair stays in the JWKS until every token it signed has expired (the longest token lifetime
plus issuer.signingKeyOverlap), then it is deleted. Running instances pick the new keys up
within a minute.

Root secret (--secret, or no flag): with a generated secret (no secrets.session in the
config) a new one is prepended to <dataDir>/secret and the previous two are kept. With
configured secrets, put the new secret first in secrets.session and keep the old one after
it until sessions sealed under it have expired (session.lifetime).
${CONFIG_HELP}`,
    options: { ...CONFIG, signing: { type: 'boolean' }, secret: { type: 'boolean' } },
    async run({ values, positionals }, io) {
      if (positionals[0] !== 'rotate') { io.err('gatehouse: keys needs a subcommand: rotate'); return 2; }
      const both = !values.signing && !values.secret;
      const loaded = await loadFor(values.config as string | undefined, io);
      const c = loaded.config;
      if (both || values.signing) {
        const { secrets } = await resolveSecrets(c.secrets.session, c.dataDir);
        const keyring = KeyRing.fromSecrets(secrets);
        const longest = Math.max(c.issuer.idTokenLifetime, c.issuer.accessTokenLifetime);
        const r = await withStore(loaded, silentLogger, (store) => rotateSigningKeys(store.signingKeys, keyring, systemClock, longest + c.issuer.signingKeyOverlap));
        io.out(`added signing keys ${r.added.join(', ')}; ${r.retired.length ? `${r.retired.join(', ')} stop signing now and stay published until ${new Date(r.retireAfter).toISOString()}` : 'no older keys'}`);
      }
      if (both || values.secret) {
        if (c.secrets.session?.length) {
          io.out('secrets.session is set in the config: add the new secret FIRST in that list (generate one with `openssl rand -base64 32`),');
          io.out('keep the old one after it until session.lifetime has passed, then remove it. Running instances pick it up on reload.');
          return 0;
        }
        const n = await rotateGeneratedSecret(c.dataDir);
        io.out(`rotated the generated secret in ${c.dataDir}; ${n} secret(s) on file, the new one current`);
        io.out('running instances pick it up on restart or SIGHUP');
      }
      return 0;
    },
  },

  explain: {
    summary: 'show which rule decides a request, and why',
    usage: `gatehouse explain URL [--user NAME] [--method M] [--ip ADDR]

Without --user the request is anonymous. The user's groups come from the store and config.
${CONFIG_HELP}`,
    options: { ...CONFIG, user: { type: 'string' }, method: { type: 'string' }, ip: { type: 'string' } },
    async run({ values, positionals }, io) {
      const raw = positionals[0];
      if (!raw) { io.err('gatehouse: explain needs a URL'); return 2; }
      // The path exactly as written: a URL parser would resolve "..", "%2e" and "\\" before the
      // gate saw them, and explain must read the bytes the proxy passes on (policy/path.ts).
      const m = /^(https?):\/\/([^/?#\\]+)(.*)$/i.exec(raw);
      let host: string;
      try { host = new URL(`${m?.[1] ?? ''}://${m?.[2] ?? ''}/`).host; } catch { io.err(`gatehouse: "${raw}" is not an absolute http(s) URL`); return 2; }
      const path = m?.[3] === undefined || m[3] === '' ? '/' : m[3];
      const loaded = await loadFor(values.config as string | undefined, io);
      const policy = compilePolicy(loaded.config.apps, loaded.config.headers);
      const req = { host, path, method: ((values.method as string | undefined) ?? 'GET').toUpperCase(), ip: (values.ip as string | undefined) ?? '127.0.0.1' };
      let identity = null;
      if (values.user) {
        const found = await withStore(loaded, silentLogger, async (store) => {
          const u = await store.users.findByUsername(values.user as string);
          return u ? accountsFor(loaded, store, silentLogger).identityOf(u) : undefined;
        });
        if (!found) { io.err(`gatehouse: no user named "${String(values.user)}"`); return 1; }
        identity = found;
      }
      // What forward auth answers before any rule (gateway/forward-auth.ts ownPath).
      const publicUrl = loaded.config.publicUrl === undefined ? undefined : new URL(loaded.config.publicUrl);
      const own = publicUrl === undefined ? null : ownPath({ publicUrl, portalHost: publicUrl.host.toLowerCase() }, host, path.split(/[?#]/, 1)[0] ?? '/');
      if (own !== null) {
        io.out(OWN_PATH_DECISION[own]);
        io.out('rule: none (forward auth answers this path before the rules)');
        const requestLine = explain(policy, req, identity).find((l) => l.startsWith('request: '));
        if (requestLine !== undefined) io.out(requestLine);
        return 0;
      }
      for (const line of explain(policy, req, identity)) io.out(line);
      return 0;
    },
  },

  doctor: {
    summary: "check a deployment's config for known traps and say what to fix; `doctor kube` prints the kube-apiserver config",
    usage: `gatehouse doctor [--config PATH] [--url URL]
       gatehouse doctor kube [--config PATH] [--audience ID]... [--username preferred_username|email] [--api-version v1beta1|v1] [--role NAME]

--url           a running instance's internal address (e.g. http://gatehouse.gatehouse.svc:4180): also checks it answers
kube            print a kube-apiserver AuthenticationConfiguration for this issuer and RBAC ClusterRoleBindings
                for the groups in config, as YAML on stdout (warnings on stderr)
--audience      a client id the apiserver accepts as aud (repeatable; default: the client "kubernetes")
--username      the claim usernames come from: preferred_username (prefix "oidc:", default) or email
--api-version   v1beta1 (Kubernetes 1.30+, default) or v1 (1.34+)
--role          the ClusterRole each group is bound to (default: view)
${EDGE_USAGE}
${CONFIG_HELP}`,
    options: {
      ...CONFIG, url: { type: 'string' }, audience: { type: 'string', multiple: true },
      username: { type: 'string' }, 'api-version': { type: 'string' }, role: { type: 'string' }, ...EDGE_OPTIONS,
    },
    async run({ values, positionals }, io) {
      const [what, ...rest] = positionals;
      if (what === 'kube' && rest.length === 0) return doctorKube(values, io);
      if (what === 'edge' && rest.length === 0) return doctorEdge(values, io);
      if (what !== undefined) {
        io.err(`gatehouse doctor: unknown check "${positionals.join(' ')}" (known: kube, edge)`);
        return 2;
      }
      for (const flag of ['audience', 'username', 'api-version', 'role', 'client', 'wrangler']) {
        if (values[flag] !== undefined) {
          io.err(`gatehouse doctor: --${flag} is for \`gatehouse doctor ${flag in EDGE_OPTIONS ? 'edge' : 'kube'}\``);
          return 2;
        }
      }
      return doctor(values, io);
    },
  },
  ...BACKUP_COMMANDS,
};

async function doctorKube(values: Record<string, string | boolean | undefined>, io: CliIO): Promise<number> {
  const username = (values.username as string | undefined) ?? 'preferred_username';
  if (username !== 'preferred_username' && username !== 'email') {
    io.err('gatehouse doctor kube: --username must be preferred_username or email');
    return 2;
  }
  const apiVersion = (values['api-version'] as string | undefined) ?? 'v1beta1';
  if (apiVersion !== 'v1beta1' && apiVersion !== 'v1') {
    io.err('gatehouse doctor kube: --api-version must be v1beta1 or v1');
    return 2;
  }
  const role = (values.role as string | undefined) ?? 'view';
  const loaded = await loadFor(values.config as string | undefined, io);
  let out;
  try {
    out = kubeAuthentication(loaded.config, { audiences: (values.audience as unknown as string[] | undefined) ?? [], usernameClaim: username, apiVersion, role });
  } catch (err) {
    if (!(err instanceof KubeConfigProblem)) throw err;
    io.err(`gatehouse doctor kube: ${err.message}`);
    return 1;
  }
  for (const w of out.warnings) io.err(`gatehouse: warning: ${w}`);
  io.out(out.yaml.trimEnd());
  return 0;
}

async function doctor(values: Record<string, string | boolean | undefined>, io: CliIO): Promise<number> {
  let problems = 0;
  const bad = (msg: string) => { problems++; io.out(`✗ ${msg}`); };
  const ok = (msg: string) => io.out(`✓ ${msg}`);
  const path = configPath(values.config as string | undefined, io);
  let loaded: LoadedConfig;
  try { loaded = await loadFor(path, io); } catch (err) { reportError(err, io); return 1; }
  ok(`config is valid (${path ?? 'embedded defaults'})`);
  for (const l of lintConfig(loaded.config, { fromFile: loaded.fromFile, referencePaths: loaded.referencePaths })) {
    if (l.severity === 'error') bad(`${l.path}: ${l.message}`); else io.out(`! ${l.path}: ${l.message}`);
  }
  const c = loaded.config;
  if (!c.secrets.session?.length) {
    io.out(`! secrets.session is unset: the secret generated in ${c.dataDir} is used; with several replicas every one needs the SAME secret (set secrets.session from a Kubernetes Secret)`);
  }
  if (c.database.url === undefined || c.database.url.startsWith('sqlite:')) {
    io.out('! the embedded SQLite store serves one replica; run several replicas against PostgreSQL (database.url: postgres://…)');
  }
  try {
    await withStore(loaded, silentLogger, async (store) => {
      const st = await store.schemaStatus();
      ok(`store reachable; schema version ${st.current} of ${st.latest}`);
    });
  } catch (err) { bad(`store: ${(err as { detail?: string }).detail ?? (err as Error).message}`); }
  const url = values.url as string | undefined;
  if (url) {
    try {
      const r = await fetch(new URL('/readyz', url), { signal: AbortSignal.timeout(5000) });
      if (r.status === 200) ok(`${url} is ready`); else bad(`${url}/readyz answered ${r.status}: ${await r.text()}`);
      const host = new URL(url).hostname;
      if (c.publicUrl && host === new URL(c.publicUrl).hostname) {
        bad(`--url is the public name ${host}: proxies must call /oauth2/auth on the cluster-internal address (for example http://gatehouse.<namespace>.svc.cluster.local:4180), not through the public ingress`);
      }
    } catch (err) { bad(`cannot reach ${url}: ${(err as Error).message}`); }
  }
  io.out(problems ? `${problems} problem(s) to fix` : 'no problems found');
  return problems ? 1 : 0;
}
