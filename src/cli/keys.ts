// `gatehouse keys rotate`: new signing keys for the issuer, a new generated root secret.
import { silentLogger, systemClock } from '../core/index.ts';
import { KeyRing } from '../crypto/index.ts';
import { resolveSecrets, rotateGeneratedSecret } from '../app/index.ts';
import { rotateSigningKeys } from '../issuer/index.ts';
import { CONFIG, CONFIG_HELP, type Command } from './command.ts';
import { loadFor, withStore } from './context.ts';

export const keysCommand: Command = {
  summary: "rotate the issuer's signing keys and the root secret (old ones keep verifying and opening what they made)",
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
    if (positionals[0] !== 'rotate') {
      io.err('gatehouse: keys needs a subcommand: rotate');
      return 2;
    }
    const both = !values.signing && !values.secret;
    const loaded = await loadFor(values.config as string | undefined, io);
    const c = loaded.config;
    if (both || values.signing) {
      const { secrets } = await resolveSecrets(c.secrets.session, c.dataDir);
      const keyring = KeyRing.fromSecrets(secrets);
      const longest = Math.max(c.issuer.idTokenLifetime, c.issuer.accessTokenLifetime);
      const r = await withStore(loaded, silentLogger, (store) =>
        rotateSigningKeys(store.signingKeys, keyring, systemClock, longest + c.issuer.signingKeyOverlap),
      );
      io.out(
        `added signing keys ${r.added.join(', ')}; ${r.retired.length ? `${r.retired.join(', ')} stop signing now and stay published until ${new Date(r.retireAfter).toISOString()}` : 'no older keys'}`,
      );
    }
    if (both || values.secret) {
      if (c.secrets.session?.length) {
        io.out(
          'secrets.session is set in the config: add the new secret FIRST in that list (generate one with `openssl rand -base64 32`),',
        );
        io.out('keep the old one after it until session.lifetime has passed, then remove it. Running instances pick it up on reload.');
        return 0;
      }
      const n = await rotateGeneratedSecret(c.dataDir);
      io.out(`rotated the generated secret in ${c.dataDir}; ${n} secret(s) on file, the new one current`);
      io.out('running instances pick it up on restart or SIGHUP');
    }
    return 0;
  },
};
