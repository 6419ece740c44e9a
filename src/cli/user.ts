// `gatehouse user …`: people, through the same `Accounts` the running server uses (which ends
// their sessions everywhere and writes the audit events). One small function per subcommand.
import { randomId, silentLogger } from '../core/index.ts';
import type { Services } from '../app/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import type { CliIO } from './io.ts';
import { CONFIG, CONFIG_HELP, iso, list, type Command } from './command.ts';
import { loadFor, withServices } from './context.ts';
import { userResetLink } from './invite.ts';
import { resetFactors } from './factors.ts';

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
gatehouse user reset-factors NAME

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
reset-factors removes every second factor of the account (authenticator app, passkeys and
  security keys, recovery codes) and ends every session of it; where factors are required, the
  next sign-in enrols again.
${CONFIG_HELP}`;

type Values = Record<string, string | boolean | undefined>;
/** A subcommand that acts on one user: NAME, the other positionals after it, the flags. */
type UserAction = (
  s: Services,
  username: string,
  args: { values: Values; rest: string[]; loaded: LoadedConfig; store: Store },
  io: CliIO,
) => Promise<number>;

async function readPassword(values: Values, io: CliIO): Promise<{ password: string; generated: boolean }> {
  if (values['password-stdin']) {
    const text = (await io.readStdin()).replace(/\r?\n$/, '');
    if (text.length < 8) throw new Error('the password on standard input is shorter than 8 characters');
    return { password: text, generated: false };
  }
  return { password: randomId(15), generated: true };
}

/** Who the command line acts as in the audit log. */
const BY = 'cli';

const ACTIONS: Record<string, UserAction> = {
  async add({ accounts }, username, { values }, io) {
    const { password, generated } = await readPassword(values, io);
    await accounts.create({
      username,
      email: (values.email as string | undefined) ?? null,
      name: (values.name as string | undefined) ?? null,
      groups: list(values.groups),
      password,
    });
    io.out(`added user ${username}`);
    if (generated) io.out(`one-time password: ${password}`);
    return 0;
  },

  async passwd({ accounts }, username, { values }, io) {
    const { password, generated } = await readPassword(values, io);
    await accounts.setPassword(username, password);
    io.out(`changed the password of ${username}`);
    if (generated) io.out(`new password: ${password}`);
    return 0;
  },

  async disable({ accounts }, username, _args, io) {
    const r = await accounts.disable(username, BY);
    io.out(
      `disabled ${username}; ended ${r.sessions.length} session(s), revoked ${r.grants} OpenID record(s) (grants, refresh tokens, OpenID sessions)`,
    );
    return 0;
  },

  async delete({ accounts }, username, _args, io) {
    const r = await accounts.delete(username, BY);
    io.out(
      `deleted ${username}; ended ${r.sessions.length} session(s), revoked ${r.grants} OpenID record(s) (grants, refresh tokens, OpenID sessions)`,
    );
    return 0;
  },

  async enable({ accounts }, username, _args, io) {
    await accounts.enable(username, BY);
    io.out(`enabled ${username}: they can sign in again (ended sessions and revoked tokens stay ended)`);
    return 0;
  },

  async grants({ accounts }, username, _args, io) {
    const user = await accounts.find(username);
    if (!user) {
      io.err(`gatehouse: no user named "${username}"`);
      return 1;
    }
    const consents = await accounts.grantsOf(user.id);
    for (const c of consents) {
      io.out(
        `${c.clientId}\t${c.scopes.join(' ') || '-'}\t${c.resources.join(' ') || '-'}\tallowed ${iso(c.createdAt)}\tlast ${iso(c.updatedAt)}`,
      );
    }
    if (consents.length === 0) io.out(`${username} has allowed no client`);
    return 0;
  },

  async 'revoke-grant'({ accounts }, username, { rest }, io) {
    const clientId = rest[0];
    if (!clientId) {
      io.err(`gatehouse: user revoke-grant needs a client id\n\nusage: ${USER_USAGE}`);
      return 2;
    }
    const r = await accounts.revokeGrant(username, clientId, BY);
    if (r.consents === 0 && r.grants === 0) {
      io.err(`gatehouse: ${username} has no grant for client "${clientId}"`);
      return 1;
    }
    io.out(`revoked ${username}'s grant for ${clientId}: the client asks again; ${r.grants} OpenID record(s) revoked`);
    return 0;
  },

  async identities({ accounts }, username, _args, io) {
    const user = await accounts.find(username);
    if (!user) {
      io.err(`gatehouse: no user named "${username}"`);
      return 1;
    }
    const rows = await accounts.identitiesOf(user.id);
    for (const r of rows) {
      io.out(
        `${r.connectorId}\t${r.subject}\t${r.username ?? '-'}\t${r.email ?? '-'}\tlinked ${iso(r.createdAt)}\trefreshed ${iso(r.refreshedAt)}`,
      );
    }
    if (rows.length === 0) io.out(`${user.username} has no linked identities`);
    return 0;
  },

  async unlink({ accounts }, username, { values }, io) {
    // Sessions record their user but not their connector (that is only in the sealed cookie), so
    // every session of the user ends. Running instances would end a session made with this
    // connector only when they next load it; the revocations end them within a second everywhere.
    const connectorId = values.connector as string;
    const r = await accounts.unlink(username, connectorId, BY);
    io.out(`unlinked ${r.user.username} from ${connectorId} (subject ${r.subjects.join(', ')}); ended ${r.sessions.length} session(s)`);
    return 0;
  },

  'reset-link'(services, username, { loaded, store }, io) {
    return userResetLink(loaded, services, store, username, io);
  },

  'reset-factors'(_services, username, { store }, io) {
    return resetFactors(store, username, io);
  },
};

async function listUsers({ accounts }: Services, io: CliIO): Promise<number> {
  for (const u of await accounts.list()) {
    io.out(`${u.username}\t${u.email ?? '-'}\t${u.groups.join(',') || '-'}\t${u.disabled ? 'disabled' : 'active'}`);
  }
  return 0;
}

export const userCommand: Command = {
  summary: 'manage local accounts: add, passwd, disable, enable, delete, list; their grants to clients; linked upstream identities',
  usage: USER_USAGE,
  options: {
    ...CONFIG,
    email: { type: 'string' },
    name: { type: 'string' },
    groups: { type: 'string' },
    'password-stdin': { type: 'boolean' },
    connector: { type: 'string' },
  },
  async run({ values, positionals }, io) {
    const [sub, username, ...rest] = positionals;
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
    return withServices(loaded, silentLogger, async (services, store) => {
      if (sub === 'list') return listUsers(services, io);
      if (!username) {
        io.err(`gatehouse: user ${sub ?? ''} needs a username`);
        return 2;
      }
      const action = sub === undefined || !Object.hasOwn(ACTIONS, sub) ? undefined : ACTIONS[sub];
      if (!action) {
        io.err(
          'gatehouse: user needs a subcommand: add, passwd, disable, enable, delete, list, grants, revoke-grant, identities, unlink, reset-link or reset-factors',
        );
        return 2;
      }
      return action(services, username, { values, rest, loaded, store }, io);
    });
  },
};
