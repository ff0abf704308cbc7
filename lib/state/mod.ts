/**
 * Small operational state on Deno KV (ARCHITECTURE §9): used cap ids, sign-in challenges, the
 * session denylist, the actor index and write ledger, censuses, re-encryption jobs, pending chain
 * records and the hash-chained audit log. `StateStore` is one interface, so a shared backend can
 * replace Deno KV when several instances run behind a load balancer.
 *
 * ```ts
 * const state = await KvStateStore.open("./data/state.kv");
 * if (!await state.claimOnce("cap", jti, expMs)) throw new Error("replayed");
 * ```
 *
 * @module
 */

import { ChangeCounter } from "./_changes.ts";
import { retryingBusy } from "./_busy.ts";
export { ChangeCounter };

/** The operations the service needs from its state backend. */
export interface StateStore {
  /**
   * Records `id` in `scope` until `expiresAtMs`; `true` the first time, `false` for every later
   * call before expiry (atomically, so two concurrent claims cannot both win).
   */
  claimOnce(scope: string, id: string, expiresAtMs: number): Promise<boolean>;
  /** Whether `id` is currently claimed in `scope` (e.g. a logged-out session). */
  isClaimed(scope: string, id: string): Promise<boolean>;
  /** Tells this process's caches of the state about other processes' changes (if shared). */
  readonly changes?: ChangeCounter;
  close(): void;
}

/** {@linkcode StateStore} on Deno KV (a file in the data directory, or `:memory:`). */
export class KvStateStore implements StateStore {
  private constructor(
    readonly kv: Deno.Kv,
    readonly now: () => number,
    readonly changes: ChangeCounter,
  ) {}

  /**
   * Opens (creating) the KV file at `path`, with its change counter at `<path>.changes`;
   * `undefined` opens an in-memory store (this process its only user).
   */
  static async open(path?: string, now: () => number = Date.now): Promise<KvStateStore> {
    // Every component reaches KV through this handle: SQLite's busy error (another process on
    // the same file) is retried here, once for all of them (_busy.ts).
    const kv = retryingBusy(await Deno.openKv(path ?? ":memory:"));
    try {
      return new KvStateStore(kv, now, ChangeCounter.open(path ? `${path}.changes` : null));
    } catch (err) {
      kv.close();
      throw err;
    }
  }

  async claimOnce(scope: string, id: string, expiresAtMs: number): Promise<boolean> {
    const key = ["once", scope, id];
    const existing = await this.kv.get<number>(key);
    // KV expiry is lazy; an entry past its own deadline no longer counts.
    if (existing.value !== null && existing.value > this.now()) return false;
    const expireIn = Math.max(1, expiresAtMs - this.now());
    const result = await this.kv.atomic()
      .check(existing)
      .set(key, expiresAtMs, { expireIn })
      .commit();
    return result.ok;
  }

  async isClaimed(scope: string, id: string): Promise<boolean> {
    const entry = await this.kv.get<number>(["once", scope, id]);
    return entry.value !== null && entry.value > this.now();
  }

  close(): void {
    this.kv.close();
    this.changes.close();
  }
}

export { KvChallengeStore } from "./_challenges.ts";
export { SessionDenylist, type SessionRevocations } from "./_denylist.ts";

export { KvActorIndex } from "./_actors.ts";
export { KvWriteLedger, type WriteLedger } from "./_ledger.ts";
export { type Census, type EpochCounts, KvCensusStore } from "./_census.ts";
export { type AuditEntry, type AuditLog, entryHash, KvAuditLog } from "./_audit.ts";
export {
  type BlobEvent,
  emptyJobCounts,
  type JobCounts,
  type JobEvent,
  type JobOwner,
  type JobParamsRecord,
  type JobRecord,
  type JobRequest,
  type JobState,
  KvJobStore,
  type Outcome,
  type ProgressEvent,
  type ReencryptEvent,
  type RunState,
  type SummaryEvent,
} from "./_jobs.ts";
export { KvChainPending, type PendingChainRecord } from "./_chain_pending.ts";
export {
  type AnchorRecord,
  type BlobPointer,
  KvPointerStore,
  type PointerDigest,
  type PointerIntent,
} from "./_pointers.ts";
export { STATE_ERROR_CODES, StateBusy } from "./_errors.ts";
