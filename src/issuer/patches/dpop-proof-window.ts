// PATCH of oidc-provider internals: a middleware ahead of its router reading `ctx.path` and the
// DPoP header of a /token request.
// Why: RFC 9449 §11.1: a proof at /token older or newer than issuer.dpop.proofLifetime is refused
// before oidc-provider (whose window is a fixed five minutes) sees it. Only iat is read here;
// everything else, the signature included, is oidc-provider's check that follows.
// Proved by: test/unit/issuer-dpop.test.ts (a proof outside the window is invalid_dpop_proof).
import type Provider from 'oidc-provider';
import type { Clock, Logger } from '../../core/index.ts';

export function patchDpopProofWindow(
  provider: Provider,
  opts: { tokenPath: string; proofLifetimeMs: number; clock: Clock; logger: Logger },
): void {
  const { clock, logger } = opts;
  provider.use(async (ctx, next) => {
    const proof = ctx.req.headers.dpop;
    if (typeof proof !== 'string' || proof === '' || ctx.method !== 'POST' || ctx.path !== opts.tokenPath) return next();
    let iat: unknown;
    try {
      iat = (JSON.parse(Buffer.from(proof.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat?: unknown }).iat;
    } catch {
      iat = undefined;
    }
    if (typeof iat === 'number' && Math.abs(clock.now() - iat * 1000) > opts.proofLifetimeMs) {
      ctx.status = 400;
      ctx.set('cache-control', 'no-store');
      ctx.body = { error: 'invalid_dpop_proof', error_description: 'DPoP proof iat is not recent enough' };
      logger.info({ event: 'dpop.error', detail: 'the DPoP proof iat is outside issuer.dpop.proofLifetime' }, 'issuer refused a request');
      return undefined;
    }
    return next();
  });
}
