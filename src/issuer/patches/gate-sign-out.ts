// PATCH of oidc-provider internals: `provider.Session.findByUid`, `session.authorizations`,
// `session.sidFor`/`destroy` and `client.backchannelLogout` (none of them documented API).
// Why: a sign-out at the gate ends the OpenID sessions signed in with it, and the clients hear of
// it through back-channel logout, exactly as RP-initiated logout would tell them.
// Proved by: test/unit/issuer-backchannel.test.ts (a gate sign-out sends the logout token).
import type Provider from 'oidc-provider';
import type { Logger } from '../../core/index.ts';

interface InternalSession {
  accountId?: string;
  authorizations?: Record<string, unknown>;
  sidFor(clientId: string): string;
  destroy(): Promise<void>;
}
interface InternalClient {
  clientId: string;
  backchannelLogoutUri?: string;
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

/**
 * The gate's sign-out for OpenID sessions (OpenID Connect Back-Channel Logout 1.0 §2.7): for each
 * session (by uid) every client it signed in to that registered a backchannel_logout_uri gets a
 * logout token (oidc-provider's own, the same one /oidc/session/end sends: iss, aud, iat, jti,
 * events, sub and sid), then the session is destroyed. Failures are the `backchannel.error`
 * event's business, as for RP-initiated logout. Returns the client ids notified.
 */
export async function gateSignOut(provider: Provider, uids: readonly string[], logger: Logger): Promise<string[]> {
  const sessions = (provider as unknown as { Session: { findByUid(uid: string): Promise<InternalSession | undefined> } }).Session;
  const notified: string[] = [];
  for (const uid of uids) {
    const session = await sessions.findByUid(uid);
    if (!session?.accountId) continue;
    const sub = session.accountId;
    await Promise.all(
      Object.keys(session.authorizations ?? {}).map(async (clientId) => {
        const client = (await provider.Client.find(clientId).catch(() => undefined)) as unknown as InternalClient | undefined;
        if (!client?.backchannelLogoutUri) return;
        try {
          await client.backchannelLogout(sub, session.sidFor(clientId));
          notified.push(clientId);
        } catch (err) {
          logger.info({ event: 'backchannel.error', client: clientId, detail: (err as Error).message }, 'back-channel logout failed');
        }
      }),
    );
    await session.destroy();
  }
  return notified;
}
