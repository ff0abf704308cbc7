/**
 * The logout denylist of sessions, shared by the broker (which refuses a logged-out session) and
 * the worker (which refuses the caps such a session minted, by their `sid` claim).
 *
 * The worker asks on every request, so answers are cached in the process:
 *
 * - a logout made through this instance is known at once, without a KV read;
 * - "not logged out" is remembered, so a cap used many times a second costs one KV read, not one
 *   per request. With the state's {@linkcode ChangeCounter} (the KV state store has one) the
 *   answer is kept until another process changes cached state — a logout anywhere on the same
 *   KV file applies to the next request. A state store without one is re-read after `freshMs`
 *   (default 1 s), so a logout by another process reaches this worker within `freshMs`.
 *
 * ```ts
 * const denylist = new SessionDenylist(state);
 * await denylist.revoke(session.jti, session.expiresAt * 1000);
 * await denylist.isRevoked(claims.sid); // true
 * ```
 *
 * @module
 */

import type { StateStore } from "./mod.ts";
import type { CacheHandle, ChangeCounter } from "./_changes.ts";

/** The KV claim scope of logged-out sessions (`StateStore.claimOnce("logout", jti, …)`). */
export const LOGOUT_SCOPE = "logout";

/** Answers "was this session logged out?" (what the worker needs). */
export interface SessionRevocations {
  isRevoked(sessionId: string): Promise<boolean>;
}

/** {@linkcode SessionRevocations} on a {@linkcode StateStore}, with the in-process caches above. */
export class SessionDenylist implements SessionRevocations {
  /** Sessions logged out through this instance → their expiry (ms). */
  readonly #revoked = new Map<string, number>();
  /** Sessions found not logged out → when KV said so (ms). Oldest first, bounded. */
  readonly #live = new Map<string, number>();
  readonly #freshMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #changes: ChangeCounter | undefined;
  readonly #cache: CacheHandle | undefined;

  constructor(
    private readonly state: StateStore,
    options: { freshMs?: number; maxEntries?: number; now?: () => number } = {},
  ) {
    this.#freshMs = options.freshMs ?? 1000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#changes = state.changes;
    this.#cache = this.#changes?.register(() => this.#live.clear());
  }

  /** Logs a session out until `expiresAtMs` (its own expiry; after that it is refused anyway). */
  async revoke(sessionId: string, expiresAtMs: number): Promise<void> {
    this.#remember(this.#revoked, sessionId, expiresAtMs);
    this.#live.delete(sessionId);
    await this.state.claimOnce(LOGOUT_SCOPE, sessionId, expiresAtMs);
    this.#cache?.bump();
  }

  /**
   * `maxAgeMs` bounds how old a cached "not logged out" may be where no change counter makes the
   * cache exact (default `freshMs`; the broker passes 0: a logout elsewhere applies at once).
   */
  async isRevoked(sessionId: string, options: { maxAgeMs?: number } = {}): Promise<boolean> {
    const now = this.#now();
    const until = this.#revoked.get(sessionId);
    if (until !== undefined) {
      if (until > now) return true;
      this.#revoked.delete(sessionId);
    }
    this.#changes?.check();
    const checked = this.#live.get(sessionId);
    const maxAge = options.maxAgeMs ?? this.#freshMs;
    if (checked !== undefined && (this.#changes || now - checked < maxAge)) return false;
    const generation = this.#cache?.generation;
    const revoked = await this.state.isClaimed(LOGOUT_SCOPE, sessionId);
    // A logout through this instance may have landed while KV was read.
    if (revoked || this.#revoked.has(sessionId)) return true;
    // Someone's change was seen while KV was read: answer, but do not remember an answer that
    // may predate it.
    if (this.#cache?.generation !== generation) return false;
    this.#live.delete(sessionId); // re-inserted last: the map stays ordered by check time
    this.#remember(this.#live, sessionId, now);
    return false;
  }

  #remember(map: Map<string, number>, key: string, value: number): void {
    map.set(key, value);
    if (map.size > this.#maxEntries) map.delete(map.keys().next().value!);
  }
}
