// PATCH of oidc-provider internals: `ctx.oidc.route`, `ctx.oidc.entities.AuthorizationCode` and
// the stored AuthorizationCode of a refused /token request.
// Why: RFC 8707 §2 / MCP.md: a /token request refused with invalid_target must not burn the code.
// oidc-provider consumes the code before it resolves the resource; this puts it back unconsumed.
// Proved by: test/unit/mcp-resource.test.ts ("invalid_target" leaves the code redeemable).
import type Provider from 'oidc-provider';
import type { Clock } from '../../core/index.ts';
import type { OidcStore } from '../../store/index.ts';
import { h } from '../adapter.ts';

export function patchKeepCodeOnInvalidTarget(provider: Provider, oidc: OidcStore, clock: Clock): void {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route !== 'token' || ctx.status !== 400 || (ctx.body as { error?: string } | undefined)?.error !== 'invalid_target')
      return;
    const code = ctx.oidc.entities.AuthorizationCode as { jti: string; exp: number; save(ttl: number): Promise<unknown> } | undefined;
    if (!code) return;
    const left = code.exp - Math.floor(clock.now() / 1000);
    if (left <= 0) return;
    await oidc.destroy('AuthorizationCode', h('id', code.jti));
    await code.save(left);
  });
}
