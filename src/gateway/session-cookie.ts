// The session a request's cookies stand for. Usually one cookie of our name; when a browser
// also holds a stale or foreign one of the same name (another Domain or Path, a sidecar), every
// value is tried, so the fresh cookie is never hidden behind the stale one (a sign-in loop).
import { cookieValues, parseCookie } from '../http/index.ts';
import type { Sessions, SessionView } from '../sessions/index.ts';

export interface FoundSession {
  view: SessionView;
  cookie: string;
}

export function sessionFromCookies(
  sessions: Sessions,
  header: string | undefined,
  name: string,
): FoundSession | null | Promise<FoundSession | null> {
  const first = parseCookie(header, name);
  if (first === undefined) return null;
  const r = sessions.authenticate(first);
  if (r instanceof Promise) return r.then((view) => (view ? { view, cookie: first } : rest(sessions, header, name)));
  return r ? { view: r, cookie: first } : rest(sessions, header, name);
}

function rest(sessions: Sessions, header: string | undefined, name: string): null | Promise<FoundSession | null> {
  const others = cookieValues(header, name).slice(1);
  if (others.length === 0) return null;
  return (async () => {
    for (const cookie of others) {
      const view = await sessions.authenticate(cookie);
      if (view) return { view, cookie };
    }
    return null;
  })();
}
