/**
 * Single-use login challenges (SIWE, device login). A challenge is consumed atomically, and a
 * consumed one is remembered until it would have expired, so a replay is told apart from a
 * request id that never existed.
 *
 * @module
 */

/** What consuming a challenge found. */
export type ChallengeOutcome<T> =
  | { status: "ok"; value: T }
  | { status: "used" }
  | { status: "expired" }
  | { status: "unknown" };

/** Pending login challenges kept at most (AGENTKEYS_MAX_PENDING_LOGINS's default). */
export const DEFAULT_MAX_PENDING = 10_000;

interface Entry<T> {
  value: T;
  expiresAt: number;
  used: boolean;
}

/**
 * ```ts
 * const challenges = new KvChallengeStore(kv);
 * const id = await challenges.create("siwe", { address, message }, Date.now() + 600_000);
 * const outcome = await challenges.consume<{ address: string }>("siwe", id);
 * ```
 */
export class KvChallengeStore {
  /**
   * The challenges this process created that are neither consumed nor known to be expired, oldest
   * first (`kind/id` → expiry). Anyone may start a login, so this is what bounds the KV entries
   * an unauthenticated client can create: past `maxPending` the oldest is deleted.
   */
  readonly #pending = new Map<string, number>();

  constructor(
    private readonly kv: Deno.Kv,
    private readonly now: () => number = Date.now,
    readonly maxPending: number = DEFAULT_MAX_PENDING,
  ) {}

  /** Pending challenges this process tracks (for tests of the bound). */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Stores `value` under a fresh 128-bit request id until `expiresAtMs`. When `maxPending` are
   * already pending, the oldest is evicted (its verify answers "unknown"): a flood of starts then
   * costs legitimate users a retry, not the service its memory.
   */
  async create<T>(kind: string, value: T, expiresAtMs: number): Promise<string> {
    const id = crypto.getRandomValues(new Uint8Array(16)).toHex();
    const entry: Entry<T> = { value, expiresAt: expiresAtMs, used: false };
    // Kept an hour past expiry so that late replays still read as "used"/"expired".
    await this.kv.set(["challenge", kind, id], entry, {
      expireIn: expiresAtMs - this.now() + 3_600_000,
    });
    this.#pending.set(`${kind}/${id}`, expiresAtMs);
    await this.#evict();
    return id;
  }

  async #evict(): Promise<void> {
    const now = this.now();
    for (const [key, expiresAt] of this.#pending) {
      if (expiresAt > now && this.#pending.size <= this.maxPending) break;
      this.#pending.delete(key);
      // Expired ones stay in KV until their own expiry (late verifies read "expired").
      if (expiresAt > now) await this.kv.delete(["challenge", ...key.split("/")]);
    }
  }

  /** Marks the challenge used and returns its value, exactly once. */
  async consume<T>(kind: string, id: string): Promise<ChallengeOutcome<T>> {
    if (!/^[0-9a-f]{32}$/.test(id)) return { status: "unknown" };
    this.#pending.delete(`${kind}/${id}`);
    const key = ["challenge", kind, id];
    const current = await this.kv.get<Entry<T>>(key);
    if (current.value === null) return { status: "unknown" };
    if (current.value.used) return { status: "used" };
    const result = await this.kv.atomic()
      .check(current)
      .set(key, { ...current.value, used: true }, { expireIn: 3_600_000 })
      .commit();
    if (!result.ok) return { status: "used" }; // a concurrent verify won
    if (current.value.expiresAt <= this.now()) return { status: "expired" };
    return { status: "ok", value: current.value.value };
  }
}
