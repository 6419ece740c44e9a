// The gate session and the OpenID sessions signed in with it, both ways: the provider reads who is
// signed in at the gate (its login check), links each completed sign-in to the gate session, and
// ends the gate session at RP-initiated logout; a sign-out at the gate (announced on `signOuts`)
// ends the OpenID sessions linked to it, with back-channel logout.
import type { IncomingMessage } from 'node:http';
import type { Provider } from 'oidc-provider';
import type { Clock, Logger, Topic } from '../core/index.ts';
import type { Config } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import type { Sessions } from '../sessions/index.ts';
import { sessionFromCookies } from '../gateway/index.ts';
import { clearSessionCookie, type GateSettings } from '../web/index.ts';
import { adapterFor } from './adapter.ts';
import { gateSignOut } from './patches/gate-sign-out.ts';
import type { IssuerAudit } from './registered.ts';

/** The store model of gate session -> OpenID session links. */
const LINK_MODEL = 'GatehouseGateLink';

export function gateLinks(o: {
  store: Store;
  sessions: Sessions;
  clock: Clock;
  logger: Logger;
  settings: () => GateSettings;
  config: () => Config;
  audit: IssuerAudit;
  provider: () => Promise<Provider>;
  signOuts?: Topic<string> | undefined;
}) {
  const { store, sessions, clock, logger, audit } = o;

  async function gateUserId(req: IncomingMessage): Promise<string | null> {
    const found = await sessionFromCookies(sessions, req.headers.cookie, o.settings().cookieName);
    return found ? found.view.userId : null;
  }

  async function endGateSession(req: IncomingMessage): Promise<string | null> {
    const s = o.settings();
    const found = await sessionFromCookies(sessions, req.headers.cookie, s.cookieName);
    if (!found) return null;
    await sessions.revoke(found.view.sid);
    logger.info({ event: 'sign_out', user: found.view.identity.username, session: found.view.sid.slice(0, 6), via: 'oidc' }, 'signed out');
    audit({ actor: found.view.identity.username, action: 'sign_out', outcome: 'ok', detail: { via: 'oidc_end_session' } });
    return clearSessionCookie(s, s.portalHost);
  }

  // Gate session (sid) -> the OpenID sessions (uids) signed in with it: a sign-out at the gate
  // ends them with back-channel logout. Kept as long as a gate session can live.
  let links: { keyring: GateSettings['keyring']; adapter: InstanceType<ReturnType<typeof adapterFor>> } | undefined;
  const linkStore = () => {
    const keyring = o.settings().keyring;
    if (links?.keyring !== keyring) links = { keyring, adapter: new (adapterFor(store.oidc, clock, { keyring }))(LINK_MODEL) };
    return links.adapter;
  };
  async function linkSession(req: IncomingMessage, uid: string): Promise<void> {
    const found = await sessionFromCookies(sessions, req.headers.cookie, o.settings().cookieName);
    if (!found) return;
    const a = linkStore();
    const prior = ((await a.find(found.view.sid))?.uids as string[] | undefined) ?? [];
    if (prior.includes(uid)) return;
    const ttl = Math.max(1, Math.ceil(o.config().session.lifetime / 1000));
    await a.upsert(found.view.sid, { uids: [...prior, uid] }, ttl);
  }

  /**
   * The gate session `sid` ended (sign-out at /oauth2/sign_out): every OpenID session signed in
   * with it ends too, and the clients with a backchannel_logout_uri get a logout token.
   */
  async function gateSignedOut(sid: string): Promise<void> {
    const a = linkStore();
    const uids = ((await a.find(sid))?.uids as string[] | undefined) ?? [];
    if (uids.length === 0) return;
    await a.destroy(sid);
    const notified = await gateSignOut(await o.provider(), uids, logger);
    if (notified.length) logger.info({ event: 'backchannel_logout', clients: notified }, 'back-channel logout sent');
  }
  // Never holds up the user's sign-out; a failure is logged.
  o.signOuts?.subscribe((sid) => {
    gateSignedOut(sid).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'sign-out: could not end the OpenID sessions'));
  });

  return { gateUserId, endGateSession, linkSession };
}
