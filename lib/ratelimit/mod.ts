/**
 * Keyed token buckets: limits on work an unauthenticated (or runaway) client can make the
 * service do. Each key gets a bucket of `capacity` tokens that refills at `capacity` per
 * `periodMs`; a request takes one token or is refused with the whole seconds until one is back.
 * Memory is bounded: past `maxKeys` the least recently used key is forgotten, so a client that
 * rotates keys (addresses) can reset only its own oldest buckets, never grow the map.
 *
 * ```ts
 * const login = new RateLimiter(parseRate("30/min"));
 * const r = login.take("192.0.2.7");
 * if (!r.ok) throw new RateLimited(r.retryAfterS, "too many sign-in requests from this address");
 * ```
 *
 * @module
 */

/** `capacity` requests at once, refilled at `capacity` per `periodMs`. */
export interface RateSpec {
  capacity: number;
  periodMs: number;
}

/** What {@linkcode RateLimiter.take} decided. */
type TakeResult = { ok: true } | { ok: false; retryAfterS: number };

/** Every code an error of lib/ratelimit carries. */
export const RATELIMIT_ERROR_CODES = ["rate_limited"] as const;

/** A refusal the HTTP layer answers with 429 `rate_limited` and `Retry-After`. */
export class RateLimited extends Error {
  readonly code = "rate_limited";
  /** Whole seconds, at least 1. */
  readonly retryAfterS: number;
  constructor(retryAfterS: number, message: string) {
    super(message);
    this.name = "RateLimited";
    this.retryAfterS = Math.max(1, Math.ceil(retryAfterS));
  }
}

const UNITS: Record<string, number> = { s: 1_000, min: 60_000, h: 3_600_000 };

/**
 * Parses `<count>/<s|min|h>` (e.g. `30/min`): bursts of up to `count`, `count` per period on
 * average. Throws a `RangeError` naming the syntax; the config turns it into a `ConfigError`.
 */
export function parseRate(text: string): RateSpec {
  const m = /^\s*(\d{1,9})\s*\/\s*(s|min|h)\s*$/.exec(text);
  if (!m || Number(m[1]) < 1) {
    throw new RangeError(`"${text}" is not a rate like 30/min (a count ≥ 1 per s, min or h)`);
  }
  return { capacity: Number(m[1]), periodMs: UNITS[m[2]] };
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Default bound on remembered keys per limiter. */
const DEFAULT_MAX_KEYS = 10_000;

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #perMs: number;
  readonly #now: () => number;
  readonly #maxKeys: number;

  constructor(
    readonly spec: RateSpec,
    options: { now?: () => number; maxKeys?: number } = {},
  ) {
    this.#perMs = spec.capacity / spec.periodMs;
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  }

  /** Keys currently remembered (for tests of the memory bound). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes `cost` tokens (one per request, or per call of a batch) from `key`'s bucket, or says
   * how long until they are back. A cost above the capacity is charged as the whole capacity,
   * so one big request is never refused forever.
   */
  take(key: string, cost = 1): TakeResult {
    const need = Math.min(Math.max(1, cost), this.spec.capacity);
    const now = this.#now();
    const old = this.#buckets.get(key);
    let tokens = this.spec.capacity;
    if (old) {
      // A wall clock stepped back (NTP, a VM resumed) must not drain every bucket: no refill
      // for the lost time, but no debt either.
      const elapsed = Math.max(0, now - old.at);
      tokens = Math.min(this.spec.capacity, old.tokens + elapsed * this.#perMs);
      // Re-inserted below, so the map's order is least recently used first.
      this.#buckets.delete(key);
    }
    const ok = tokens >= need;
    if (ok) tokens -= need;
    this.#buckets.set(key, { tokens, at: now });
    while (this.#buckets.size > this.#maxKeys) {
      this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    if (ok) return { ok: true };
    return {
      ok: false,
      retryAfterS: Math.max(1, Math.ceil((need - tokens) / this.#perMs / 1000)),
    };
  }

  /** Like {@linkcode take}, but throws {@linkcode RateLimited} with `message` when refused. */
  check(key: string, message: string, cost = 1): void {
    const r = this.take(key, cost);
    if (!r.ok) throw new RateLimited(r.retryAfterS, message);
  }
}

/**
 * Counts concurrent holders per key (e.g. open event streams per session), refusing past `max`.
 * A key's entry disappears with its last holder, so memory follows what is open.
 */
export class ConcurrencyLimiter {
  readonly #open = new Map<string, number>();
  constructor(readonly max: number) {}

  /** Takes a slot for `key`; the returned function frees it (once, however often called). */
  acquire(key: string): (() => void) | null {
    const n = this.#open.get(key) ?? 0;
    if (n >= this.max) return null;
    this.#open.set(key, n + 1);
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left <= 0) this.#open.delete(key);
      else this.#open.set(key, left);
    };
  }

  /** Open slots of `key`. */
  count(key: string): number {
    return this.#open.get(key) ?? 0;
  }
}
