// `gatehouse agent create|list|delete`: machine identities (OAuth clients with client_credentials).
import { parseDuration, silentLogger, systemClock } from '../core/index.ts';
import { KeyRing } from '../crypto/index.ts';
import { resolveSecrets } from '../app/index.ts';
import { agentsFor, agentSubject } from '../issuer/index.ts';
import { CONFIG, CONFIG_HELP, list, type Command } from './command.ts';
import { loadFor, withStore } from './context.ts';

export const agentCommand: Command = {
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
delete (or the end of the TTL) makes /oidc/token refuse it (invalid_client) within 1 s on every
replica, and the gate refuse the tokens it holds within 2 s.
${CONFIG_HELP}`,
  options: { ...CONFIG, groups: { type: 'string' }, ttl: { type: 'string' } },
  async run({ values, positionals }, io) {
    const [sub, name] = positionals;
    if (sub !== 'create' && sub !== 'list' && sub !== 'delete') {
      io.err('gatehouse: agent needs a subcommand: create, list or delete');
      return 2;
    }
    if (sub !== 'list' && !name) {
      io.err(`gatehouse: agent ${sub} needs a NAME`);
      return 2;
    }
    const ttl = typeof values.ttl === 'string' ? parseDuration(values.ttl) : null;
    if (ttl === undefined) {
      io.err('gatehouse: --ttl expects a duration such as 90s, 15m, 8h or 7d');
      return 2;
    }
    const loaded = await loadFor(values.config as string | undefined, io);
    const { secrets } = await resolveSecrets(loaded.config.secrets.session, loaded.config.dataDir);
    const keyring = KeyRing.fromSecrets(secrets);
    return withStore(loaded, silentLogger, async (store) => {
      const agents = agentsFor(store.oidc, keyring, systemClock);
      if (sub === 'create') {
        const r = await agents.create(name ?? '', { groups: list(values.groups), ttlMs: ttl });
        await store.audit.append({
          at: systemClock.now(),
          actor: 'cli',
          action: 'agent_create',
          outcome: 'ok',
          target: agentSubject(r.agent.name),
          detail: { clientId: r.clientId, groups: r.agent.groups, expiresAt: r.agent.expiresAt },
        });
        io.out(
          `created agent ${r.agent.name}${r.agent.expiresAt === null ? '' : `, valid until ${new Date(r.agent.expiresAt).toISOString()}`}`,
        );
        io.out(`  client_id:     ${r.clientId}`);
        io.out(`  client_secret: ${r.clientSecret}`);
        io.out('  (the secret is not shown again)');
        return 0;
      }
      if (sub === 'list') {
        for (const a of await agents.list()) {
          io.out(
            `${a.name}\tgroups=${a.groups.join(',') || '-'}\tcreated=${new Date(a.createdAt).toISOString()}\texpires=${a.expiresAt === null ? 'never' : new Date(a.expiresAt).toISOString()}`,
          );
        }
        return 0;
      }
      if (!(await agents.delete(name ?? ''))) {
        io.err(`gatehouse: no agent "${name}"`);
        return 1;
      }
      await store.audit.append({
        at: systemClock.now(),
        actor: 'cli',
        action: 'agent_delete',
        outcome: 'ok',
        target: agentSubject(name ?? ''),
        detail: {},
      });
      io.out(`deleted agent ${name}: its tokens are refused from now on`);
      return 0;
    });
  },
};
