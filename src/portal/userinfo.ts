// GET /oauth2/userinfo: who the session cookie belongs to, in oauth2-proxy's shape.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answer, NO_STORE } from '../web/index.ts';
import type { PortalContext } from './context.ts';

const UNAUTHORIZED = Object.freeze({
  'content-type': 'application/json',
  'cache-control': NO_STORE,
  'www-authenticate': 'Bearer realm="gatehouse"',
});
const JSON_NO_STORE = Object.freeze({ 'content-type': 'application/json', 'cache-control': NO_STORE });

export function userinfoFlow(ctx: PortalContext) {
  return async function userinfo(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = ctx.deps.settings();
    const view = (await ctx.currentSession(req, s))?.view;
    if (!view) {
      answer(res, 401, UNAUTHORIZED, '{"error":"unauthorized","error_description":"sign-in required"}');
      return;
    }
    const id = view.identity;
    answer(
      res,
      200,
      JSON_NO_STORE,
      JSON.stringify({ user: id.username, email: id.email ?? '', groups: id.groups, preferredUsername: id.username }),
    );
  };
}
