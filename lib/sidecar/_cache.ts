/**
 * Credentials the sidecar holds in memory: at most 5 minutes and 256 entries, so a revoked or
 * rotated credential stops being served soon even if nobody tells the sidecar.
 *
 * @module
 */

export const CACHE_TTL_MS = 5 * 60_000;
export const CACHE_MAX_ENTRIES = 256;

export class CredentialCache {
  readonly #entries = new Map<string, { secret: string; expires: number }>();
  #generation = 0;

  constructor(
    readonly ttlMs = CACHE_TTL_MS,
    readonly maxEntries = CACHE_MAX_ENTRIES,
    private readonly now: () => number = Date.now,
  ) {}

  get(service: string): string | undefined {
    const e = this.#entries.get(service);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.#entries.delete(service);
      return undefined;
    }
    return e.secret;
  }

  /**
   * Bumped by {@linkcode clear}: a fetch that started before a clear must not put back what the
   * clear was meant to remove, so `set` with an older generation is ignored.
   */
  get generation(): number {
    return this.#generation;
  }

  set(service: string, secret: string, generation = this.#generation): void {
    if (generation !== this.#generation) return;
    this.#entries.delete(service);
    // Map keeps insertion order: the first key is the oldest entry.
    while (this.#entries.size >= this.maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(service, { secret, expires: this.now() + this.ttlMs });
  }

  drop(service: string): void {
    this.#entries.delete(service);
  }

  /** Forgets everything (revocation, scope change, rotation, or a gap in the event stream). */
  clear(): void {
    this.#entries.clear();
    this.#generation++;
  }

  get size(): number {
    return this.#entries.size;
  }
}
