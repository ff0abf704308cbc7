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
  constructor(private readonly kv: Deno.Kv, private readonly now: () => number = Date.now) {}

  /** Stores `value` under a fresh 128-bit request id until `expiresAtMs`. */
  async create<T>(kind: string, value: T, expiresAtMs: number): Promise<string> {
    const id = crypto.getRandomValues(new Uint8Array(16)).toHex();
    const entry: Entry<T> = { value, expiresAt: expiresAtMs, used: false };
    // Kept an hour past expiry so that late replays still read as "used"/"expired".
    await this.kv.set(["challenge", kind, id], entry, {
      expireIn: expiresAtMs - this.now() + 3_600_000,
    });
    return id;
  }

  /** Marks the challenge used and returns its value, exactly once. */
  async consume<T>(kind: string, id: string): Promise<ChallengeOutcome<T>> {
    if (!/^[0-9a-f]{32}$/.test(id)) return { status: "unknown" };
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
