/**
 * The logout denylist of sessions, shared by the broker (which refuses a logged-out session) and
 * the worker (which refuses the caps such a session minted, by their `sid` claim).
 *
 * The worker asks on every request, so answers are cached in the process:
 *
 * - a logout made through this instance is known at once, without a KV read;
 * - "not logged out" is remembered for `freshMs` (default 1 s), so a cap used many times a second
 *   costs one KV read per second, not one per request. A logout made by another process (another
 *   broker instance behind a load balancer) therefore reaches this worker within `freshMs`.
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

  constructor(
    private readonly state: StateStore,
    options: { freshMs?: number; maxEntries?: number; now?: () => number } = {},
  ) {
    this.#freshMs = options.freshMs ?? 1000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Logs a session out until `expiresAtMs` (its own expiry; after that it is refused anyway). */
  async revoke(sessionId: string, expiresAtMs: number): Promise<void> {
    this.#remember(this.#revoked, sessionId, expiresAtMs);
    this.#live.delete(sessionId);
    await this.state.claimOnce(LOGOUT_SCOPE, sessionId, expiresAtMs);
  }

  async isRevoked(sessionId: string): Promise<boolean> {
    const now = this.#now();
    const until = this.#revoked.get(sessionId);
    if (until !== undefined) {
      if (until > now) return true;
      this.#revoked.delete(sessionId);
    }
    const checked = this.#live.get(sessionId);
    if (checked !== undefined && now - checked < this.#freshMs) return false;
    const revoked = await this.state.isClaimed(LOGOUT_SCOPE, sessionId);
    // A logout through this instance may have landed while KV was read.
    if (revoked || this.#revoked.has(sessionId)) return true;
    this.#live.delete(sessionId); // re-inserted last: the map stays ordered by check time
    this.#remember(this.#live, sessionId, now);
    return false;
  }

  #remember(map: Map<string, number>, key: string, value: number): void {
    map.set(key, value);
    if (map.size > this.#maxEntries) map.delete(map.keys().next().value!);
  }
}
