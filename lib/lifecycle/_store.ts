/**
 * The scheduler's state in the state store (Deno KV), so a restart resumes where a crash left
 * off: the step running (written before it starts: a write-ahead record), the per-epoch progress
 * of a cycle (job done, next destroy attempt, why it was deferred), the revocations not yet acted
 * on, the last rotation and destruction, the last sweep. Plus the lease (one acting process per
 * data directory) and the blobs' last-access times the TTL sweep reads.
 *
 * Keys: `["lifecycle","state"]`, `["lifecycle","revocations"]`, `["lifecycle","lease"]`, `["lifecycle","revocations_seen_block"]`,
 * `["lifecycle","touch", <object key>]`.
 *
 * @module
 */

/** The steps the scheduler runs, one at a time. */
export type StepName = "rotate" | "reencrypt" | "destroy" | "sweep";

/** Progress of one retiring epoch through its cycle. */
export interface EpochProgress {
  /** The eager job for this epoch finished (any outcome but a crash); the census decides. */
  job_done_at?: string;
  job_id?: string;
  /** A deferred destroy waits until then (and the job runs again first). */
  next_attempt_at?: string;
  /** Why the last destroy was deferred. */
  /** `count` is absent only in views for non-admins (a global census figure). */
  deferred?: { count?: number; at: string; reason: string; census_taken_at?: string };
}

/** What the scheduler keeps in KV. */
export interface LifecycleState {
  /** The step that started and has not been seen to finish (write-ahead). */
  running: null | {
    step: StepName;
    started_at: string;
    holder: string;
    epoch?: number;
    /** rotate: the active epoch before, to tell after a crash whether it happened. */
    from_active?: number;
    reason?: string;
    job_id?: string;
    /** sweep: the blob being deleted, with its tombstone (written before the delete). */
    deleting?: { key: string; class: string; idle_seconds: number; ttl_seconds: number };
  };
  epochs: Record<string, EpochProgress>;
  last_rotation: null | { epoch: number; at: string; reason: string };
  last_destruction: null | { epoch: number; at: string };
  last_sweep_at: string | null;
  /** The step the last pass ran (a rotation never runs twice in a row while others wait). */
  last_step?: StepName;
  /** A failed step is retried no earlier than this, per step. */
  backoff: Partial<Record<StepName, string>>;
}

/** Revocations seen on chain and not yet folded into a rotation. */
export interface PendingRevocations {
  first_at: string;
  count: number;
}

const STATE: Deno.KvKey = ["lifecycle", "state"];
const REVOCATIONS: Deno.KvKey = ["lifecycle", "revocations"];
const LEASE: Deno.KvKey = ["lifecycle", "lease"];
/** The last block whose revocations were counted (so a restart replays from there, once). */
const REVOCATIONS_SEEN: Deno.KvKey = ["lifecycle", "revocations_seen_block"];
const touchKey = (key: string): Deno.KvKey => ["lifecycle", "touch", key];

export function emptyState(): LifecycleState {
  return {
    running: null,
    epochs: {},
    last_rotation: null,
    last_destruction: null,
    last_sweep_at: null,
    backoff: {},
  };
}

/** The scheduler's KV records. */
export class LifecycleStore {
  constructor(readonly kv: Deno.Kv) {}

  async read(): Promise<LifecycleState> {
    const entry = await this.kv.get<LifecycleState>(STATE);
    return { ...emptyState(), ...entry.value };
  }

  /**
   * Read-modify-write with a versionstamp check: a revocation listener or a status reader never
   * loses an update to the scheduler (and two schedulers cannot both commit from one read).
   */
  async update(fn: (s: LifecycleState) => void): Promise<LifecycleState> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const entry = await this.kv.get<LifecycleState>(STATE);
      const state = { ...emptyState(), ...structuredClone(entry.value) };
      fn(state);
      const ok = await this.kv.atomic().check(entry).set(STATE, state).commit();
      if (ok.ok) return state;
    }
    throw new Error("lifecycle state: too much contention");
  }

  async revocations(): Promise<
    { value: PendingRevocations | null; entry: Deno.KvEntryMaybe<PendingRevocations> }
  > {
    const entry = await this.kv.get<PendingRevocations>(REVOCATIONS);
    return { value: entry.value, entry };
  }

  /** Folds `count` revocations seen at `at` into the pending ones. */
  async addRevocations(count: number, at: Date): Promise<PendingRevocations> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const entry = await this.kv.get<PendingRevocations>(REVOCATIONS);
      const next = entry.value
        ? { first_at: entry.value.first_at, count: entry.value.count + count }
        : { first_at: at.toISOString(), count };
      if ((await this.kv.atomic().check(entry).set(REVOCATIONS, next).commit()).ok) return next;
    }
    throw new Error("lifecycle revocations: too much contention");
  }

  /** The last block whose revocations were counted; null before the first. */
  async revocationsSeenBlock(): Promise<bigint | null> {
    return (await this.kv.get<bigint>(REVOCATIONS_SEEN)).value;
  }

  /**
   * Counts the revocations mined in `blocks` that are after the last counted block, and moves that
   * mark to `through`, in one atomic step: a restart that replays blocks, or a second service
   * process seeing the same events, counts none twice. Returns how many were counted.
   */
  async addRevocationsThrough(blocks: bigint[], through: bigint, at: Date): Promise<number> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const [pending, seen] = await this.kv.getMany<[PendingRevocations, bigint]>([
        REVOCATIONS,
        REVOCATIONS_SEEN,
      ]);
      if (seen.value !== null && seen.value >= through) return 0;
      const count = blocks.filter((b) => seen.value === null || b > seen.value).length;
      const tx = this.kv.atomic().check(pending, seen).set(REVOCATIONS_SEEN, through);
      if (count > 0) {
        tx.set(
          REVOCATIONS,
          pending.value
            ? { first_at: pending.value.first_at, count: pending.value.count + count }
            : { first_at: at.toISOString(), count },
        );
      }
      if ((await tx.commit()).ok) return count;
    }
    throw new Error("lifecycle revocations: too much contention");
  }

  /**
   * Removes the revocations a rotation folded in (`seen`, read before it); any that arrived
   * during the rotation stay pending, their burst starting `at`.
   */
  async clearRevocations(seen: Deno.KvEntryMaybe<PendingRevocations>, at: Date): Promise<void> {
    if (seen.value === null) return;
    for (let attempt = 0; attempt < 20; attempt++) {
      const entry = await this.kv.get<PendingRevocations>(REVOCATIONS);
      if (entry.value === null) return;
      const tx = this.kv.atomic().check(entry);
      const rest = entry.value.count - seen.value.count;
      if (entry.versionstamp === seen.versionstamp || rest <= 0) tx.delete(REVOCATIONS);
      else tx.set(REVOCATIONS, { first_at: at.toISOString(), count: rest });
      if ((await tx.commit()).ok) return;
    }
    throw new Error("lifecycle revocations: too much contention");
  }

  /** The lease's record, for status. */
  async leaseHolder(): Promise<{ holder: string; expires_at: number } | null> {
    return (await this.kv.get<{ holder: string; expires_at: number }>(LEASE)).value;
  }

  /**
   * Takes or renews the lease for `holder` until `nowMs + ttlMs`; `false` while another holder's
   * lease has not expired. Compare-and-swap on the entry, so two processes never both win.
   */
  async acquireLease(holder: string, nowMs: number, ttlMs: number): Promise<boolean> {
    const entry = await this.kv.get<{ holder: string; expires_at: number }>(LEASE);
    const v = entry.value;
    if (v !== null && v.holder !== holder && v.expires_at > nowMs) return false;
    const res = await this.kv.atomic().check(entry)
      .set(LEASE, { holder, expires_at: nowMs + ttlMs }).commit();
    return res.ok;
  }

  /** Gives the lease up (a clean stop), so another process need not wait for its expiry. */
  async releaseLease(holder: string): Promise<void> {
    const entry = await this.kv.get<{ holder: string; expires_at: number }>(LEASE);
    if (entry.value?.holder !== holder) return;
    await this.kv.atomic().check(entry).delete(LEASE).commit();
  }

  /** Records that `key` was read or written at `atMs` (the TTL sweep's notion of idle). */
  async touch(key: string, atMs: number): Promise<void> {
    await this.kv.set(touchKey(key), atMs);
  }

  async lastTouch(key: string): Promise<number | null> {
    return (await this.kv.get<number>(touchKey(key))).value;
  }

  async forget(key: string): Promise<void> {
    await this.kv.delete(touchKey(key));
  }
}
