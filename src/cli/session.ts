// `gatehouse session list|revoke`: browser sessions, ended through `Accounts` (revoked in the
// store and published to every replica).
import { silentLogger } from '../core/index.ts';
import { CONFIG, CONFIG_HELP, iso, type Command } from './command.ts';
import { loadFor, withServices } from './context.ts';

export const sessionCommand: Command = {
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
    return withServices(loaded, silentLogger, async ({ accounts }) => {
      const userName = values.user as string | undefined;
      const user = userName ? await accounts.find(userName) : undefined;
      if (userName && !user) {
        io.err(`gatehouse: no user named "${userName}"`);
        return 1;
      }
      if (sub === 'list') {
        const sessions = await accounts.sessionsOf(user?.id);
        const names = new Map((await accounts.list()).map((u) => [u.id, u.username]));
        for (const s of sessions) {
          io.out(
            `${s.id}\t${names.get(s.userId) ?? s.userId}\tcreated ${iso(s.createdAt)}\tlast seen ${iso(s.lastSeenAt)}\t${s.ip ?? '-'}`,
          );
        }
        if (sessions.length === 0) io.out('no active sessions');
        return 0;
      }
      if (sub === 'revoke') {
        if (!user && !id) {
          io.err('gatehouse: session revoke needs a session id or --user NAME');
          return 2;
        }
        // All of a user's sessions: their refresh tokens and OpenID sessions go too.
        const { sessions: ids, grants } = user
          ? await accounts.cutOff(user.id, 'revoked from the command line')
          : { sessions: id && (await accounts.endSession(id, 'revoked from the command line')) ? [id] : [], grants: 0 };
        io.out(
          ids.length || grants
            ? `revoked ${ids.length} session(s)${user ? ` and ${grants} OpenID record(s) (grants, refresh tokens)` : ''}`
            : 'no such active session',
        );
        return ids.length || user ? 0 : 1;
      }
      io.err('gatehouse: session needs a subcommand: list or revoke');
      return 2;
    });
  },
};
