// PATCH of oidc-provider internals: `Client.prototype.compareClientSecret`.
// Why: MCP.md, "only the registered method is accepted" for registered clients. oidc-provider
// treats client_secret_basic and client_secret_post as one; the secret comparison is where a
// mismatch can still fail the authentication with its own invalid_client. Clients from config
// keep oidc-provider's leniency (apps such as Grafana auto-detect the method); agents take either
// method (the secret is theirs alone, and client_secret_post with the first id form,
// `agent:<name>`, is how tools that cannot form-encode Basic got tokens).
// Proved by: test/unit/issuer-mcp-registration.test.ts ("only the registered method").
import Provider, { type Client } from 'oidc-provider';
import { agentName } from '../agents.ts';

export function patchRegisteredAuthMethod(provider: Provider, fromConfig: (clientId: string) => boolean): void {
  const proto = provider.Client.prototype as { compareClientSecret: (this: Client, secret: string) => Promise<boolean> };
  const compare = proto.compareClientSecret;
  proto.compareClientSecret = async function compareRegisteredMethod(this: Client, secret: string): Promise<boolean> {
    if (fromConfig(this.clientId) || agentName(this.clientId) !== undefined) return compare.call(this, secret);
    const usedBasic = /^basic /i.test(Provider.ctx?.req.headers.authorization ?? '');
    if ((this.clientAuthMethod === 'client_secret_basic') !== usedBasic) return false;
    return compare.call(this, secret);
  };
}
