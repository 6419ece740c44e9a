// The gate's bearer tokens (resources[], and apps with an `audience`): verified against the
// issuer's public keys (or a trusted issuer's), the subject still active, DPoP proofs checked
// against the original request. Built after the issuer, from what it publishes: nothing is
// filled in later.
import type { Clock } from '../core/index.ts';
import type { Config } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import type { Accounts } from '../accounts/index.ts';
import type { Issuer } from '../issuer/index.ts';
import type { GateSettings } from '../web/index.ts';
import {
  createAppTokenVerifier,
  createDpopChecker,
  createTokenVerifier,
  issuerIdentifier,
  resourceRegistry,
  type BearerGate,
  type JSONWebKeySet,
} from '../gateway/index.ts';

export function buildBearerGate(o: {
  config: () => Config;
  settings: () => GateSettings;
  store: Store;
  clock: Clock;
  accounts: Pick<Accounts, 'isActive'>;
  issuer: Pick<Issuer, 'publicJwks' | 'isAgentActive'>;
  /** The public keys access tokens are verified with (tests inject their own); default: the issuer's. */
  keys?: () => JSONWebKeySet;
}): BearerGate {
  const { clock } = o;
  // Protected resources (resources[]): bearer-only, decided before the apps. Access tokens are
  // the issuer's JWTs: the verifier reads its public keys on every miss of its cache (the same
  // object until the keys change: a new object empties the cache, so a rotation takes effect at
  // once). Keys given in StartOptions (tests) win.
  const accessTokenKeys = o.keys ?? (() => o.issuer.publicJwks());
  // A user's tokens stop with the user (disabled or deleted, on any replica: the store is asked
  // at most once a second per subject); an agent's with the agent (sub "agent:<name>"); a
  // client's own token (client credentials: sub is the client) has no user behind it.
  const subjectActive = async (sub: string, clientId: string): Promise<boolean> => {
    if (sub.startsWith('agent:')) return o.issuer.isAgentActive(sub.slice('agent:'.length));
    if (sub === clientId) return true;
    return o.accounts.isActive(sub);
  };
  const registry = resourceRegistry(() => ({
    resources: o.config().resources,
    publicUrl: o.settings().publicUrl,
    headers: o.settings().defaultHeaders,
    ...(o.config().issuer.dpop.enabled ? { dpopAlgorithms: o.config().issuer.dpop.algorithms } : {}),
  }));
  // Asked on every check (the cookie check too, for a Host under no resource): the config and
  // the settings are new objects only after a reload, so until then the compiled list stands
  // without building the registry's inputs again.
  let seen: { config: Config; settings: GateSettings; resources: ReturnType<typeof registry> } | undefined;
  const resources = (): ReturnType<typeof registry> => {
    const config = o.config();
    const settings = o.settings();
    if (seen === undefined || seen.config !== config || seen.settings !== settings) seen = { config, settings, resources: registry() };
    return seen.resources;
  };
  // Read on every token check; the same string until a reload brings new settings.
  let issuerFor: { settings: GateSettings; issuer: string } | undefined;
  const ownIssuer = (): string => {
    const settings = o.settings();
    if (issuerFor?.settings !== settings) issuerFor = { settings, issuer: issuerIdentifier(settings.publicUrl) };
    return issuerFor.issuer;
  };
  const ownVerifier = createTokenVerifier({
    issuer: ownIssuer,
    keys: accessTokenKeys,
    clock,
    subjectActive,
    // A disabled or deleted user's (or agent's) tokens stop within 2 s on every replica: each
    // subject is asked of the store at most once a second.
    subjectCheckMs: 1_000,
    maxCached: o.config().limits.tokenCache,
  });
  const bearer: BearerGate = {
    resources,
    verifier: ownVerifier,
    // Apps with an audience also take tokens.trustedIssuers' JWTs (resources[] never do).
    appVerifier: createAppTokenVerifier(ownVerifier, {
      ownIssuer,
      trusted: () => o.config().tokens.trustedIssuers,
      clock,
    }),
    // DPoP-bound tokens (RFC 9449): proofs checked against the original request; proof ids
    // remembered in the store, so a replay to another replica fails too.
    dpop: createDpopChecker({
      settings: () => ({
        enabled: o.config().issuer.dpop.enabled,
        algorithms: o.config().issuer.dpop.algorithms,
        proofLifetimeMs: o.config().issuer.dpop.proofLifetime,
      }),
      clock,
      once: (key, expiresAt, now) => o.store.replays.once(key, expiresAt, now),
      sweep: (before) => o.store.replays.deleteExpired(before),
    }),
  };
  return bearer;
}
