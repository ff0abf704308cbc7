/**
 * A bounded memory of tokens whose signature this process already checked (or signed itself),
 * so that a fetch cap reused by a sidecar, or a session used for many mints, costs one signature
 * verification instead of one per request. Verifying an EdDSA JWT with `jose` costs about
 * 160 µs here, several times what signing one costs (about 30 µs with `node:crypto`).
 *
 * Only the signature check is skipped: the caller still applies expiry, op, class, replay and
 * chain checks on every request. A token is found only by its exact string, which nobody can
 * produce without the signing key.
 *
 * @module
 */

/**
 * ```ts
 * const cache = new VerifiedTokenCache<CapClaims>(10_000);
 * cache.set(token, claims, claims.exp);
 * cache.get(token); // claims, until evicted
 * ```
 */
export class VerifiedTokenCache<T> {
  #entries = new Map<string, T>();
  constructor(readonly maxEntries = 10_000) {}

  get(token: string): T | undefined {
    const hit = this.#entries.get(token);
    if (hit !== undefined) {
      // Most recently used last: Map order makes the first entry the eviction candidate.
      this.#entries.delete(token);
      this.#entries.set(token, hit);
    }
    return hit;
  }

  set(token: string, value: T): void {
    if (this.#entries.size >= this.maxEntries && !this.#entries.has(token)) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(token, value);
  }

  get size(): number {
    return this.#entries.size;
  }
}
