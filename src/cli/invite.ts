// `gatehouse invite create|list|revoke` and `gatehouse user reset-link`: enrolment and password
// reset by links an operator hands over (or, with email.smtp, that are mailed). A link is shown
// once: the store keeps only its hash.
import { parseDuration, silentLogger, systemClock } from '../core/index.ts';
import type { LoadedConfig } from '../config/index.ts';
import { Invitations, invitationState, PasswordReset, SignInThrottle, type Accounts } from '../accounts/index.ts';
import { createMailer, type Mailer } from '../mail/index.ts';
import { portalUrl } from '../web/index.ts';
import { validateRedirect } from '../http/index.ts';
import { EMBEDDED_PUBLIC_URL, type Services } from '../app/index.ts';
import type { Store } from '../store/index.ts';
import type { CliIO } from './io.ts';
import { CONFIG_HELP, iso, list, type Command } from './command.ts';
import { loadFor, withServices } from './context.ts';

export const INVITE_USAGE = `gatehouse invite create --groups a,b [--expires 7d] [--email E] [--uses 1] [--rd URL]
gatehouse invite list
gatehouse invite revoke ID

create prints a link (once: only its hash is stored). Whoever opens it chooses a username and a
  password, or signs in through an upstream provider (connectors), and the new account gets the
  groups. --expires: how long it works (default 7d, at most 366d); --uses: how many accounts it
  may make (default 1). With --email the account gets that address (verified), and when
  email.smtp is set the link is also mailed there. --rd: the app the new account goes on to
  (one of domains[]; default: the portal).
list shows every invitation: id, groups, address, uses, state (usable, used, expired, revoked).
revoke makes a link stop working at once.
${CONFIG_HELP}`;

/** publicUrl as the portal builds addresses from it. */
function site(loaded: LoadedConfig): { publicUrl: URL } {
  return { publicUrl: new URL(loaded.config.publicUrl ?? EMBEDDED_PUBLIC_URL) };
}

function domainSettings(c: LoadedConfig['config']): { domain: string; allowHttp: boolean }[] {
  return c.domains.map((d) => ({ domain: d.domain, allowHttp: d.allowHttp }));
}

export function invitationsFor(store: Store, accounts: Accounts): Invitations {
  return new Invitations({ store: store.invitations, audit: store.audit, accounts, clock: systemClock, logger: silentLogger });
}

export function resetFor(loaded: LoadedConfig, store: Store, mailer: Mailer): PasswordReset {
  const c = loaded.config;
  const s = site(loaded);
  return new PasswordReset({
    store,
    audit: store.audit,
    mailer: () => mailer,
    clock: systemClock,
    logger: silentLogger,
    throttle: new SignInThrottle(
      { perAccount: c.passwordReset.perAccount, perAddress: c.passwordReset.perAddress, windowMs: c.passwordReset.window },
      systemClock,
    ),
    lifetimeMs: () => c.passwordReset.linkLifetime,
    linkFor: (token) => portalUrl(s, '/oauth2/reset', { t: token }),
    site: () => s.publicUrl.host,
    noticeOnChange: () => c.email.notices.passwordChanged,
  });
}

export const inviteCommand: Command = {
  summary: 'invitations: a link to enrol with (username and password, or an upstream provider) that gives the new account its groups',
  usage: INVITE_USAGE,
  options: {
    config: { type: 'string', short: 'c' },
    groups: { type: 'string' },
    expires: { type: 'string' },
    email: { type: 'string' },
    uses: { type: 'string' },
    rd: { type: 'string' },
  },
  async run({ values, positionals }, io) {
    const [sub, id] = positionals;
    if (sub !== 'create' && sub !== 'list' && sub !== 'revoke') {
      io.err(`gatehouse: invite needs a subcommand: create, list or revoke\n\nusage: ${INVITE_USAGE}`);
      return 2;
    }
    if (sub !== 'create') {
      for (const flag of ['groups', 'expires', 'email', 'uses', 'rd']) {
        if (values[flag] !== undefined) {
          io.err(`gatehouse: --${flag} is for \`gatehouse invite create\``);
          return 2;
        }
      }
    }
    if (sub === 'revoke' && !id) {
      io.err('gatehouse: invite revoke needs an invitation id (see `gatehouse invite list`)');
      return 2;
    }
    const expiresText = typeof values.expires === 'string' ? values.expires : '7d';
    const expiresIn = parseDuration(expiresText);
    if (expiresIn === undefined) {
      io.err('gatehouse: --expires expects a duration such as 90m, 12h or 7d');
      return 2;
    }
    const usesText = typeof values.uses === 'string' ? values.uses : '1';
    if (!/^\d{1,4}$/.test(usesText)) {
      io.err('gatehouse: --uses expects a whole number from 1 to 1000');
      return 2;
    }
    const loaded = await loadFor(values.config as string | undefined, io);
    const rd = typeof values.rd === 'string' ? values.rd : undefined;
    if (rd !== undefined) {
      const v = validateRedirect(rd, { domains: domainSettings(loaded.config), publicUrl: site(loaded).publicUrl });
      if (!v.ok) {
        io.err(`gatehouse: --rd ${rd} is not an address this instance may send people to (${v.reason})`);
        return 2;
      }
    }
    return withServices(loaded, silentLogger, async ({ accounts }, store) => {
      const invitations = invitationsFor(store, accounts);
      if (sub === 'list') {
        const now = systemClock.now();
        for (const inv of await invitations.list()) {
          io.out(
            `${inv.id}\tgroups=${inv.groups.join(',') || '-'}\temail=${inv.email ?? '-'}\tuses=${inv.uses}/${inv.maxUses}\t${invitationState(inv, now)}\tby ${inv.createdBy}\texpires ${iso(inv.expiresAt)}`,
          );
        }
        return 0;
      }
      if (sub === 'revoke') {
        if (!(await invitations.revoke(id ?? '', 'cli'))) {
          const known = await store.invitations.get(id ?? '');
          io.err(known ? `gatehouse: invitation ${id} is revoked already` : `gatehouse: no invitation "${id}"`);
          return 1;
        }
        io.out(`revoked invitation ${id}: its link no longer works`);
        return 0;
      }
      const email = typeof values.email === 'string' ? values.email : null;
      const { invitation, token } = await invitations.create({
        groups: list(values.groups),
        expiresInMs: expiresIn,
        email,
        maxUses: Number(usesText),
        createdBy: 'cli',
      });
      const link = portalUrl(site(loaded), '/oauth2/invite', { t: token, ...(rd !== undefined ? { rd } : {}) });
      io.out(
        `created invitation ${invitation.id}: groups ${invitation.groups.join(',') || '(none)'}, ${invitation.maxUses} use(s), until ${iso(invitation.expiresAt)}`,
      );
      io.out(`  link: ${link}`);
      io.out('  (the link is not shown again)');
      if (email !== null) {
        const mailer = createMailer(loaded.config.email, silentLogger);
        try {
          if (!mailer.configured) io.out(`  not mailed: email.smtp is not set; hand the link to ${email} yourself`);
          else if (
            await mailer.send({
              kind: 'invite',
              to: email,
              vars: { site: site(loaded).publicUrl.host, link, expires: iso(invitation.expiresAt) },
            })
          )
            io.out(`  mailed to ${email}`);
          else {
            io.err(`gatehouse: could not mail the link to ${email} (the SMTP server refused or did not answer); hand it over yourself`);
            return 1;
          }
        } finally {
          mailer.close();
        }
      }
      return 0;
    });
  },
};

/** `gatehouse user reset-link NAME`: a single-use password reset link for the operator to hand over. */
export async function userResetLink(
  loaded: LoadedConfig,
  { accounts }: Services,
  store: Store,
  username: string,
  io: CliIO,
): Promise<number> {
  const user = await accounts.find(username);
  if (!user) {
    io.err(`gatehouse: no user named "${username}"`);
    return 1;
  }
  if (user.disabled) {
    io.err(`gatehouse: ${user.username} is disabled: enable the account first (gatehouse user enable)`);
    return 1;
  }
  const mailer = createMailer(loaded.config.email, silentLogger);
  try {
    const { link, expiresAt } = await resetFor(loaded, store, mailer).issueLink(user, 'cli');
    io.out(`password reset link for ${user.username} (works once, until ${iso(expiresAt)}; choosing a new password ends every session):`);
    io.out(`  ${link}`);
    return 0;
  } finally {
    mailer.close();
  }
}
