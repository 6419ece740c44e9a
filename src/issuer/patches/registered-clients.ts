// PATCH of oidc-provider internals: `ctx.oidc.route`, `ctx.oidc.client` and `ctx.body` after any
// request, in a middleware.
// Why: registered clients (RFC 7591). Each registration is audited and logged; each use of one
// (authorization, token, registration management) extends its life by
// issuer.registrationLimits.unusedClientLifetime; and the registration answers drop optional
// members that are null or empty (RFC 7591 §3.2.1: absent, never null; claude.ai rejects nulls).
// Proved by: test/unit/issuer-registration-limits.test.ts (unused clients expire, used ones live
// on) and test/unit/claude-static-clients.test.ts / issuer-mcp-registration.test.ts (no nulls).
import type Provider from 'oidc-provider';
import type { IncomingMessage } from 'node:http';
import { agentName } from '../agents.ts';

export interface RegisteredClientHooks {
  fromConfig: (clientId: string) => boolean;
  registered?: (
    req: IncomingMessage,
    client: { clientId: string; clientName?: string; redirectUris: string[]; applicationType?: string; authMethod?: string },
  ) => Promise<void>;
  clientUsed?: (clientId: string) => Promise<void>;
}

export function patchRegisteredClients(provider: Provider, hooks: RegisteredClientHooks): void {
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (route === 'registration' && ctx.status === 201 && typeof ctx.body === 'object' && ctx.body !== null) {
      const b = ctx.body as Record<string, unknown>;
      await hooks.registered?.(ctx.req, {
        clientId: String(b.client_id),
        ...(typeof b.client_name === 'string' ? { clientName: b.client_name } : {}),
        redirectUris: Array.isArray(b.redirect_uris) ? b.redirect_uris.map(String) : [],
        ...(typeof b.application_type === 'string' ? { applicationType: b.application_type } : {}),
        ...(typeof b.token_endpoint_auth_method === 'string' ? { authMethod: b.token_endpoint_auth_method } : {}),
      });
      return;
    }
    const id = ctx.oidc?.client?.clientId;
    // Awaited (a store read and write at most once an hour per client), so the answer means it is done.
    if (id && ctx.status < 400 && !hooks.fromConfig(id) && agentName(id) === undefined && !/^https:\/\//.test(id))
      await hooks.clientUsed?.(id);
  });

  provider.use(async (ctx, next) => {
    await next();
    const route = (ctx as { oidc?: { route?: string } }).oidc?.route;
    if ((route !== 'registration' && route !== 'client' && route !== 'client_update') || typeof ctx.body !== 'object' || ctx.body === null)
      return;
    const body = ctx.body as Record<string, unknown>;
    for (const [k, v] of Object.entries(body)) {
      if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) delete body[k];
    }
  });
}
