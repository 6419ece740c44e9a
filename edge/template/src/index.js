// The example Worker: every request goes through Gatehouse's rules; allowed ones reach the app
// (here: /whoami, and the static files through the ASSETS binding) with identity headers set.
import { protect } from '@gatehouse/edge';

export default {
  /** @param {Request} request @param {Record<string, any>} env */
  async fetch(request, env) {
    return protect(request, env, (req) => {
      const url = new URL(req.url);
      if (url.pathname === '/whoami') {
        const seen = {};
        for (const [name, value] of req.headers) if (name.startsWith('x-auth-request') || name === 'cookie') seen[name] = value;
        return Response.json(seen);
      }
      return env.ASSETS.fetch(req);
    });
  },
};
