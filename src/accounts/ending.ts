// Ending sessions, the one way: each is revoked in the store, then its id is published on the
// revocation feed, so every replica refuses it at once (one that misses the feed finds it in the
// store by polling within a second). Revoked first: a replica that hears of it and looks it up
// must find it revoked.
import type { Store } from '../store/index.ts';

/** Revoke (the store call decides which sessions), then publish each id it returns. */
export async function revokeThenPublish(store: Store, revoke: () => Promise<string[]>): Promise<string[]> {
  const ids = await revoke();
  for (const id of ids) await store.revocations.publish(id);
  return ids;
}

/** Every active session of a user, but `except` (the session a person acts from, when it stays). */
export function endSessionsOf(store: Store, userId: string, at: number, except?: string): Promise<string[]> {
  return revokeThenPublish(store, async () => {
    if (except === undefined) return store.sessions.revokeForUser(userId, at);
    const ended: string[] = [];
    for (const s of await store.sessions.list({ userId, activeAt: at })) {
      if (s.id !== except && (await store.sessions.revoke(s.id, at))) ended.push(s.id);
    }
    return ended;
  });
}
