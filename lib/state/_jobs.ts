/**
 * Persistence of re-encryption jobs (ARCHITECTURE §9): job records, their event logs, the
 * one-running-job-per-operator lock and cancel requests, in Deno KV. The job logic lives in
 * `lib/reencrypt/_jobs.ts`; this module only stores.
 *
 * KV layout:
 *
 * ```text
 * ["jobs", "record", job_id]               JobRecord
 * ["jobs", "running", lock]                job_id holding the lock (lock = operator hex or "all")
 * ["jobs", "events", job_id, last_id]      JobEvent[] with ids ≤ last_id (a chunk, ≤ ~48 KB)
 * ["jobs", "cancel", job_id]               true when a cancel was requested from any process
 * ```
 *
 * Events are stored in chunks because Deno KV values are limited to 64 KiB and a commit per event
 * would cap a job at a few thousand blobs per second.
 *
 * @module
 */

import type { DataClass } from "../crypto/mod.ts";
import { StateContention } from "./_errors.ts";

/** How a run ended. */
export type RunState = "succeeded" | "failed" | "aborted" | "cancelled";

/** Where a job is in its life. Everything but `running` is final. */
export type JobState = "running" | RunState;

/** A job request in the wire shape of `POST /v1/reencrypt/jobs`. */
export interface JobRequest {
  operator_omni: string;
  old_epoch: number;
  new_epoch: number;
  dry_run?: boolean;
  concurrency?: number;
  classes?: string[];
}

/** A job's parameters as API.md names them. */
export interface JobParamsRecord {
  /** `0x` + 64 hex, or `"all"` for every actor in the store. */
  operator_omni: string;
  old_epoch: number;
  new_epoch: number;
  dry_run: boolean;
  concurrency: number;
  classes: string[];
}

/** Running totals; `summary` events carry the same names. */
export interface JobCounts {
  listed: number;
  done: number;
  reencrypted: number;
  would_reencrypt: number;
  skipped: number;
  other_epoch: number;
  failed: number;
}

/** The counts of a job that has not looked at any blob yet. */
export function emptyJobCounts(): JobCounts {
  return {
    listed: 0,
    done: 0,
    reencrypted: 0,
    would_reencrypt: 0,
    skipped: 0,
    other_epoch: 0,
    failed: 0,
  };
}

/** The process running a job: how another process decides whether it died. */
export interface JobOwner {
  host: string;
  pid: number;
  /** Random per process start, so a reused pid is not mistaken for the owner. */
  instance: string;
}

/** A job record (`GET /v1/reencrypt/jobs/:id`). */
export interface JobRecord {
  job_id: string;
  state: JobState;
  params: JobParamsRecord;
  counts: JobCounts;
  started_at: string;
  finished_at?: string;
  error?: string;
  owner: JobOwner;
  /** Refreshed at least every few seconds while running. */
  heartbeat_at: string;
  /** Id of the last stored event. */
  last_event_id: number;
}

/** Per-blob outcome (API.md, `blob` event). */
export type Outcome = "reencrypted" | "would-reencrypt" | "skipped" | "other-epoch" | "failed";

/** `blob` event: one blob's outcome. Never carries plaintext or key material. */
export interface BlobEvent {
  key: string;
  /** `0x` omni, or `null` when the key names no actor. */
  actor_omni: string | null;
  data_class: DataClass | null;
  /** The epoch byte 0 names, or `null` when it names none (unknown tag, unreadable). */
  from_epoch: number | null;
  outcome: Outcome;
  reason?: string;
  ms: number;
}

/** `progress` event (throttled). */
export interface ProgressEvent {
  listed: number;
  done: number;
  rate_per_s: number;
}

/** `summary` event: the last event of a run. */
export interface SummaryEvent {
  reencrypted: number;
  would_reencrypt: number;
  skipped: number;
  other_epoch: number;
  failed: number;
  duration_ms: number;
  state: RunState;
  /**
   * Why the run stopped early (aborted, cancelled, or a listing failure): codes and fixed
   * sentences only, never a store's or chain's own message.
   */
  error?: string;
}

/** Everything a re-encryption run emits, in order; `summary` comes last. */
export type ReencryptEvent =
  | { event: "blob"; data: BlobEvent }
  | { event: "progress"; data: ProgressEvent }
  | { event: "summary"; data: SummaryEvent };

/**
 * One entry of a job's event log (`GET /v1/reencrypt/jobs/:id/events`, the SSE `id`): a run's
 * event, or `end`, the last entry, after which the log never grows. Ids count up by one from 1.
 * The wire types live here, with {@linkcode JobRecord}, because this is where the log is kept
 * and the browser-safe client (lib/client) may import them from here.
 *
 * ```ts
 * for await (const e of jobs.events(jobId)) {
 *   if (e.event === "blob") console.log(e.id, e.data.outcome, e.data.key);
 * }
 * ```
 */
export type JobEvent =
  & { id: number }
  & (ReencryptEvent | { event: "end"; data: Record<string, never> });

const recordKey = (jobId: string): Deno.KvKey => ["jobs", "record", jobId];
const lockKey = (lock: string): Deno.KvKey => ["jobs", "running", lock];
const eventsPrefix = (jobId: string): Deno.KvKey => ["jobs", "events", jobId];
const cancelKey = (jobId: string): Deno.KvKey => ["jobs", "cancel", jobId];

/** JSON characters per event chunk: ≤ 48 KB even if V8 stores the strings as UTF-16. */
const CHUNK_CHARS = 24_000;
/** Chunks per atomic commit: Deno KV caps a commit at 800 KB. */
const CHUNKS_PER_COMMIT = 12;

/**
 * Job records and event logs on Deno KV.
 *
 * ```ts
 * const jobs = new KvJobStore(state.kv);
 * const created = await jobs.create(record, "ab…64hex");
 * if (!created.ok) console.log(`job ${created.holder} is running`);
 * for await (const e of jobs.events(record.job_id, 0)) console.log(e.id, e.event);
 * ```
 */
export class KvJobStore {
  constructor(readonly kv: Deno.Kv) {}

  /**
   * Stores a new running job and takes the lock `lock` for it, atomically: fails with the
   * current holder when another job holds the lock.
   */
  async create(
    record: JobRecord,
    lock: string,
  ): Promise<{ ok: true } | { ok: false; holder: string }> {
    for (;;) {
      const held = await this.kv.get<string>(lockKey(lock));
      if (held.value !== null) return { ok: false, holder: held.value };
      const result = await this.kv.atomic()
        .check(held)
        .check({ key: recordKey(record.job_id), versionstamp: null })
        .set(lockKey(lock), record.job_id)
        .set(recordKey(record.job_id), record)
        .commit();
      if (result.ok) return { ok: true };
      // Lost a race: read the lock again (someone else may now hold it).
    }
  }

  /** The job holding `lock`, or `null`. */
  async holder(lock: string): Promise<string | null> {
    return (await this.kv.get<string>(lockKey(lock))).value;
  }

  /** Releases `lock` if `jobId` still holds it. */
  async release(lock: string, jobId: string): Promise<void> {
    const held = await this.kv.get<string>(lockKey(lock));
    if (held.value !== jobId) return;
    await this.kv.atomic().check(held).delete(lockKey(lock)).commit();
  }

  async get(jobId: string): Promise<JobRecord | null> {
    return (await this.kv.get<JobRecord>(recordKey(jobId))).value;
  }

  /**
   * The most recent jobs first (job ids sort by start time); with `operatorOmni`, only jobs for
   * that operator (`params.operator_omni`, or `"all"`).
   */
  async list(limit = 20, operatorOmni?: string): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    const iter = this.kv.list<JobRecord>(
      { prefix: ["jobs", "record"] },
      { reverse: true, ...(operatorOmni === undefined ? { limit } : {}) },
    );
    for await (const entry of iter) {
      if (out.length >= limit) break;
      if (operatorOmni === undefined || entry.value.params.operator_omni === operatorOmni) {
        out.push(entry.value);
      }
    }
    return out;
  }

  /** Every job holding a lock, with its lock name. */
  async locked(): Promise<{ lock: string; jobId: string }[]> {
    const out: { lock: string; jobId: string }[] = [];
    for await (const entry of this.kv.list<string>({ prefix: ["jobs", "running"] })) {
      out.push({ lock: entry.key[2] as string, jobId: entry.value });
    }
    return out;
  }

  /**
   * Appends `events` (ids must continue the log) and stores `record`. Large batches are split
   * over several commits; the record goes with the last one, so `last_event_id` never points
   * past what is stored.
   */
  async append(record: JobRecord, events: JobEvent[] = []): Promise<void> {
    const chunks = chunk(events);
    for (let i = 0; i < chunks.length || i === 0; i += CHUNKS_PER_COMMIT) {
      const op = this.kv.atomic();
      for (const c of chunks.slice(i, i + CHUNKS_PER_COMMIT)) {
        op.set([...eventsPrefix(record.job_id), c[c.length - 1].id], c);
      }
      if (i + CHUNKS_PER_COMMIT >= chunks.length) op.set(recordKey(record.job_id), record);
      const result = await op.commit();
      if (!result.ok) throw new StateContention(`job ${record.job_id}: KV commit refused`);
    }
  }

  /** Stored events with `id > afterId`, in order. */
  async *events(jobId: string, afterId = 0): AsyncIterable<JobEvent> {
    const prefix = eventsPrefix(jobId);
    const iter = this.kv.list<JobEvent[]>({ prefix, start: [...prefix, afterId + 1] });
    for await (const entry of iter) {
      for (const event of entry.value) if (event.id > afterId) yield event;
    }
  }

  /**
   * Marks a job whose process died as `aborted`: appends a `summary` and an `end` event after
   * whatever its log holds, sets `finished_at` and `error`, and releases `lock` if the job still
   * holds it, in one commit checked against the record read. Returns `null` when the job is not
   * running any more (or another process just did the same).
   */
  async markAborted(
    jobId: string,
    lock: string,
    error: string,
    at: Date,
  ): Promise<JobRecord | null> {
    const entry = await this.kv.get<JobRecord>(recordKey(jobId));
    const r = entry.value;
    if (r === null || r.state !== "running") return null;
    // A multi-commit append may have stored chunks past last_event_id before dying.
    let lastId = r.last_event_id;
    for await (const e of this.events(jobId, lastId)) lastId = Math.max(lastId, e.id);
    const summary: JobEvent = {
      id: lastId + 1,
      event: "summary",
      data: {
        reencrypted: r.counts.reencrypted,
        would_reencrypt: r.counts.would_reencrypt,
        skipped: r.counts.skipped,
        other_epoch: r.counts.other_epoch,
        failed: r.counts.failed,
        duration_ms: Math.max(0, Date.parse(r.heartbeat_at) - Date.parse(r.started_at)),
        state: "aborted",
        error,
      },
    };
    const end: JobEvent = { id: lastId + 2, event: "end", data: {} };
    const finished: JobRecord = {
      ...r,
      state: "aborted",
      finished_at: at.toISOString(),
      error,
      last_event_id: end.id,
    };
    const held = await this.kv.get<string>(lockKey(lock));
    const op = this.kv.atomic()
      .check(entry)
      .set([...eventsPrefix(jobId), end.id], [summary, end])
      .set(recordKey(jobId), finished);
    if (held.value === jobId) op.check(held).delete(lockKey(lock));
    const result = await op.commit();
    return result.ok ? finished : null;
  }

  /** Asks whoever runs `jobId` to cancel it (it polls this). */
  async requestCancel(jobId: string): Promise<void> {
    await this.kv.set(cancelKey(jobId), true, { expireIn: 24 * 3600_000 });
  }

  async cancelRequested(jobId: string): Promise<boolean> {
    return (await this.kv.get<boolean>(cancelKey(jobId))).value === true;
  }

  /**
   * Deletes the records and event logs of finished jobs beyond the `keep` most recent of each
   * operator (`params.operator_omni`; `"all"` counts as one more), so the KV file does not grow
   * without bound (a 100,000-blob job logs about 20 MB of events). Per operator, so that one
   * operator starting many jobs cannot push another's history out.
   */
  async prune(keep: number): Promise<number> {
    const seen = new Map<string, number>();
    let removed = 0;
    const iter = this.kv.list<JobRecord>({ prefix: ["jobs", "record"] }, { reverse: true });
    for await (const entry of iter) {
      const owner = entry.value.params.operator_omni;
      const rank = (seen.get(owner) ?? 0) + 1;
      seen.set(owner, rank);
      if (rank <= keep || entry.value.state === "running") continue;
      const jobId = entry.value.job_id;
      let op = this.kv.atomic();
      let n = 0;
      for await (const e of this.kv.list({ prefix: eventsPrefix(jobId) })) {
        op.delete(e.key);
        if (++n === 500) {
          await op.commit();
          op = this.kv.atomic();
          n = 0;
        }
      }
      op.delete(entry.key).delete(cancelKey(jobId));
      await op.commit();
      removed++;
    }
    return removed;
  }
}

/** Splits events into chunks of at most CHUNK_CHARS of JSON (one event always fits alone). */
function chunk(events: JobEvent[]): JobEvent[][] {
  const out: JobEvent[][] = [];
  let current: JobEvent[] = [];
  let size = 0;
  for (const event of events) {
    const n = JSON.stringify(event).length;
    if (current.length > 0 && size + n > CHUNK_CHARS) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(event);
    size += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}
