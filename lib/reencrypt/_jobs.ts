/**
 * Re-encryption as persisted jobs: a {@linkcode JobRunner} starts the engine in the background,
 * stores a job record and an event log in KV (`KvJobStore`), allows one running job per
 * operator, cancels, and serves `events(jobId, afterId)` — stored events replayed from an id,
 * then live ones, until `end`. The HTTP SSE route and the headless CLI both consume that.
 *
 * **Event batching.** Events get increasing ids at once and reach in-process subscribers at once;
 * they are written to KV in chunks, at the latest every `flushMs` (default 100 ms) or every
 * `flushEvents` events (default 256), each flush one atomic commit with the updated record. A
 * KV commit per blob would cap a job at a few thousand blobs per second.
 *
 * **Dead processes.** A running job records its owner (host, pid, a per-process instance id)
 * and refreshes `heartbeat_at` while it runs. When a process starts (`recoverAbandoned`), and
 * whenever a job is started for an operator whose lock is held, a job still marked `running`
 * is declared abandoned if its owner is this host and that pid no longer exists, or its
 * heartbeat is older than `staleMs` (default 30 s, for owners on other hosts). It is then marked
 * `aborted` with a `summary` and an `end` event appended, and its lock released. Blob events the
 * dead process had not flushed yet are lost from the log; the blobs themselves are consistent
 * (every write is a compare-and-swap), and a re-run continues the work.
 *
 * @module
 */

import {
  type AuditLog,
  emptyJobCounts,
  type JobEvent,
  type JobOwner,
  type JobParamsRecord,
  type JobRecord,
  type KvJobStore,
} from "../state/mod.ts";
import { omniToHex } from "../identity/mod.ts";
import type { DataClass } from "../crypto/mod.ts";
import { validateParams } from "./_classify.ts";
import { publicReason, runReencrypt } from "./_engine.ts";
import { JobNotFound, JobRunning } from "./_errors.ts";
import type { ReencryptDeps, ReencryptEvent, ReencryptResult, ValidParams } from "./_types.ts";

/** A job request in the wire shape of `POST /v1/reencrypt/jobs`. */
export interface JobRequest {
  operator_omni: string;
  old_epoch: number;
  new_epoch: number;
  dry_run?: boolean;
  concurrency?: number;
  classes?: string[];
}

/** What a {@linkcode JobRunner} works with. */
export interface JobRunnerDeps {
  jobs: KvJobStore;
  engine: ReencryptDeps;
  /** Job starts and ends are appended here (never per blob). */
  audit?: AuditLog;
  /** Longest time an event waits before it is written to KV. Default 100 ms. */
  flushMs?: number;
  /** Write as soon as this many events wait. Default 256. */
  flushEvents?: number;
  /** How often a running job refreshes `heartbeat_at` and polls for cancel requests. */
  heartbeatMs?: number;
  /** A running job whose heartbeat is older than this is abandoned. Default 30 s. */
  staleMs?: number;
  /** Finished jobs kept per operator (records and event logs); older ones are pruned. Default 50. */
  keepJobs?: number;
  /**
   * Events buffered per in-process subscriber. A slower subscriber (a stalled SSE client) drops
   * its buffer and catches up from KV instead, so memory stays bounded. Default 10,000.
   */
  subscriberBacklog?: number;
  /** How often a follower of a job running in another process polls KV. Default 250 ms. */
  pollMs?: number;
  /** Identity of this process; default host + pid + a random instance id. */
  owner?: JobOwner;
  /** Whether a pid on this host is alive; default: `/proc/<pid>` exists (Linux). */
  pidAlive?: (pid: number) => boolean;
  now?: () => Date;
  /** Non-fatal incidents (a failed flush that will be retried, an audit append that failed). */
  warn?: (message: string) => void;
}

interface Listener {
  queue: JobEvent[];
  overflow: boolean;
  wake: (() => void) | null;
}

/** One job running in this process. */
class LiveJob {
  nextId = 1;
  pending: JobEvent[] = [];
  inflight: JobEvent[] = [];
  listeners = new Set<Listener>();
  ended = false;
  controller = new AbortController();
  done!: Promise<JobRecord>;
  #flushChain: Promise<void> = Promise.resolve();
  #flushQueued = false;
  #lastHeartbeat = 0;
  #lastCancelPoll = Date.now();

  constructor(
    public record: JobRecord,
    readonly lock: string,
    readonly runner: JobRunnerInternals,
  ) {}

  emit(event: JobEvent["event"], data: Record<string, unknown>): void {
    const e: JobEvent = { id: this.nextId++, event, data };
    this.pending.push(e);
    this.#count(e);
    for (const listener of this.listeners) {
      if (listener.queue.length >= this.runner.subscriberBacklog) {
        listener.overflow = true;
        listener.queue = [];
      } else if (!listener.overflow) {
        listener.queue.push(e);
      }
      listener.wake?.();
      listener.wake = null;
    }
    if (this.pending.length >= this.runner.flushEvents) void this.flush().catch(() => {});
  }

  #count(e: JobEvent): void {
    const c = this.record.counts;
    if (e.event === "blob") {
      c.done++;
      const outcome = e.data.outcome as string;
      if (outcome === "reencrypted") c.reencrypted++;
      else if (outcome === "would-reencrypt") c.would_reencrypt++;
      else if (outcome === "skipped") c.skipped++;
      else if (outcome === "other-epoch") c.other_epoch++;
      else if (outcome === "failed") c.failed++;
    } else if (e.event === "progress") {
      c.listed = Math.max(c.listed, Number(e.data.listed) || 0);
    }
  }

  /** Writes pending events and the record; serialized, and coalesced while one is queued. */
  flush(): Promise<void> {
    if (this.#flushQueued) return this.#flushChain;
    this.#flushQueued = true;
    this.#flushChain = this.#flushChain.catch(() => {}).then(async () => {
      this.#flushQueued = false;
      this.inflight = this.pending;
      this.pending = [];
      const previousLast = this.record.last_event_id;
      const last = this.inflight.at(-1);
      if (last) this.record.last_event_id = last.id;
      this.record.heartbeat_at = this.runner.now().toISOString();
      this.#lastHeartbeat = Date.now();
      try {
        await this.runner.jobs.append(structuredClone(this.record), this.inflight);
      } catch (err) {
        // Keep the events for the next attempt; ids stay in order.
        this.pending = this.inflight.concat(this.pending);
        this.record.last_event_id = previousLast;
        this.inflight = [];
        throw err;
      }
      this.inflight = [];
    });
    return this.#flushChain;
  }

  /** Called every `flushMs`: flush what waits, refresh the heartbeat, poll for a cancel. */
  async tick(): Promise<void> {
    const heartbeatDue = Date.now() - this.#lastHeartbeat >= this.runner.heartbeatMs;
    if (this.pending.length > 0 || heartbeatDue) {
      try {
        await this.flush();
      } catch (err) {
        this.runner.warn(`job ${this.record.job_id}: event flush failed, will retry: ${err}`);
      }
    }
    // Polled on its own clock: with events flowing, flushes keep the heartbeat fresh, so
    // "heartbeat due" alone would never come round.
    const now = Date.now();
    if (now - this.#lastCancelPoll >= this.runner.heartbeatMs && !this.controller.signal.aborted) {
      this.#lastCancelPoll = now;
      if (await this.runner.jobs.cancelRequested(this.record.job_id).catch(() => false)) {
        this.controller.abort();
      }
    }
  }

  subscribe(): Listener {
    const listener: Listener = { queue: [], overflow: false, wake: null };
    this.listeners.add(listener);
    return listener;
  }

  unsubscribe(listener: Listener): void {
    this.listeners.delete(listener);
  }

  finish(): void {
    this.ended = true;
    for (const listener of this.listeners) {
      listener.wake?.();
      listener.wake = null;
    }
  }
}

/** What a live job needs from its runner. */
interface JobRunnerInternals {
  jobs: KvJobStore;
  subscriberBacklog: number;
  flushEvents: number;
  heartbeatMs: number;
  now: () => Date;
  warn: (message: string) => void;
}

/**
 * Runs re-encryption jobs and serves their records and event logs.
 *
 * ```ts
 * const runner = new JobRunner({ jobs: new KvJobStore(kv), engine: { store, keys, actors, ledger } });
 * await runner.recoverAbandoned(); // once, at process start
 * const job = await runner.start({ operator_omni, old_epoch: 1, new_epoch: 2, dry_run: false });
 * for await (const e of runner.events(job.job_id)) console.log(e.id, e.event, e.data);
 * ```
 */
export class JobRunner {
  readonly #deps: JobRunnerDeps;
  readonly #internals: JobRunnerInternals;
  readonly #live = new Map<string, LiveJob>();
  readonly #owner: JobOwner;
  readonly #now: () => Date;
  readonly #staleMs: number;
  readonly #flushMs: number;
  readonly #pollMs: number;
  readonly #pidAlive: (pid: number) => boolean;
  readonly #warn: (message: string) => void;

  constructor(deps: JobRunnerDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#owner = deps.owner ?? {
      host: Deno.hostname(),
      pid: Deno.pid,
      instance: crypto.randomUUID(),
    };
    this.#staleMs = deps.staleMs ?? 30_000;
    this.#flushMs = deps.flushMs ?? 100;
    this.#pollMs = deps.pollMs ?? 250;
    this.#pidAlive = deps.pidAlive ?? procPidAlive;
    this.#warn = deps.warn ?? ((message) => console.warn(message));
    this.#internals = {
      jobs: deps.jobs,
      flushEvents: deps.flushEvents ?? 256,
      subscriberBacklog: deps.subscriberBacklog ?? 10_000,
      heartbeatMs: deps.heartbeatMs ?? 2000,
      now: this.#now,
      warn: this.#warn,
    };
  }

  /**
   * Marks jobs left `running` by a dead process as `aborted` (see the module doc) and returns
   * them. Call once when the process starts; `start` also does it for the lock it needs.
   */
  async recoverAbandoned(): Promise<JobRecord[]> {
    const recovered: JobRecord[] = [];
    for (const { lock, jobId } of await this.#deps.jobs.locked()) {
      const record = await this.#freeIfAbandoned(lock, jobId);
      if (record) recovered.push(record);
    }
    return recovered;
  }

  /**
   * Validates and starts a job; resolves with its record once it is stored. Throws
   * `InvalidReencryptParams` (400) or {@linkcode JobRunning} (409).
   */
  async start(request: JobRequest): Promise<JobRecord> {
    // A long-running service would otherwise judge the epochs by a table a CLI has changed.
    await this.#deps.engine.keys.reload?.();
    const params = validateParams({
      operatorOmni: request.operator_omni,
      oldEpoch: request.old_epoch,
      newEpoch: request.new_epoch,
      dryRun: request.dry_run,
      concurrency: request.concurrency,
      classes: request.classes as DataClass[] | undefined,
    }, this.#deps.engine.keys);
    const lock = params.operatorOmni === "all" ? "all" : omniToHex(params.operatorOmni);
    const holder = await this.#deps.jobs.holder(lock);
    if (holder !== null) await this.#freeIfAbandoned(lock, holder);
    const now = this.#now().toISOString();
    const record: JobRecord = {
      job_id: newJobId(this.#now()),
      state: "running",
      params: paramsRecord(params),
      counts: emptyJobCounts(),
      started_at: now,
      owner: this.#owner,
      heartbeat_at: now,
      last_event_id: 0,
    };
    const created = await this.#deps.jobs.create(record, lock);
    if (!created.ok) throw new JobRunning(created.holder, params.operatorOmni);
    const live = new LiveJob(structuredClone(record), lock, this.#internals);
    this.#live.set(record.job_id, live);
    live.done = this.#run(live, params);
    await this.#audit("reencrypt_job_started", { job_id: record.job_id, params: record.params });
    void this.#deps.jobs.prune(this.#deps.keepJobs ?? 50).catch((err) =>
      this.#warn(`pruning old jobs failed: ${err}`)
    );
    return record;
  }

  /** The job's record; live jobs show counts up to the last event. Throws `JobNotFound`. */
  async get(jobId: string): Promise<JobRecord> {
    const live = this.#live.get(jobId);
    if (live) return structuredClone(live.record);
    const record = await this.#deps.jobs.get(jobId);
    if (!record) throw new JobNotFound(jobId);
    return record;
  }

  /** The most recent jobs first; with `operatorOmni`, only that operator's. */
  async list(limit = 20, operatorOmni?: string): Promise<JobRecord[]> {
    const records = await this.#deps.jobs.list(limit, operatorOmni);
    return records.map((r) => this.#live.get(r.job_id)?.record ?? r).map((r) => structuredClone(r));
  }

  /**
   * Cancels a running job (in this process at once; in another process within its heartbeat
   * interval) and returns its record. A finished job is returned unchanged.
   */
  async cancel(jobId: string): Promise<JobRecord> {
    const live = this.#live.get(jobId);
    if (live) {
      live.controller.abort();
      return structuredClone(live.record);
    }
    const record = await this.get(jobId);
    if (record.state === "running") await this.#deps.jobs.requestCancel(jobId);
    return record;
  }

  /** Resolves with the final record once the job has finished. */
  async wait(jobId: string): Promise<JobRecord> {
    const live = this.#live.get(jobId);
    if (live) return await live.done;
    for (;;) {
      const record = await this.get(jobId);
      if (record.state !== "running") return record;
      await delay(this.#pollMs);
    }
  }

  /**
   * The job's events with `id > afterId`: stored ones first, then live ones as they happen,
   * ending with `end`. Works for jobs running in this process, in another process (by polling
   * KV), and finished jobs (a full replay). Throws `JobNotFound` for an unknown id.
   */
  async *events(jobId: string, afterId = 0): AsyncGenerator<JobEvent> {
    const live = this.#live.get(jobId);
    if (live) {
      yield* this.#followLive(live, afterId);
      return;
    }
    if (!(await this.#deps.jobs.get(jobId))) throw new JobNotFound(jobId);
    let last = afterId;
    for (;;) {
      for await (const e of this.#deps.jobs.events(jobId, last)) {
        yield e;
        last = e.id;
        if (e.event === "end") return;
      }
      // Started in this process after we looked? Follow it live from here.
      const nowLive = this.#live.get(jobId);
      if (nowLive) {
        yield* this.#followLive(nowLive, last);
        return;
      }
      const record = await this.#deps.jobs.get(jobId);
      if (!record || record.state !== "running") {
        // Finished: the final commit holds `end`; one more pass picks it up.
        for await (const e of this.#deps.jobs.events(jobId, last)) {
          yield e;
          if (e.event === "end") return;
        }
        return;
      }
      await delay(this.#pollMs);
    }
  }

  async *#followLive(live: LiveJob, afterId: number): AsyncGenerator<JobEvent> {
    const listener = live.subscribe();
    // Taken in the same tick as subscribing: every event is in KV, in this copy, or queued
    // for the listener (duplicates are dropped by id).
    let unflushed = [...live.inflight, ...live.pending];
    let last = afterId;
    try {
      for (;;) {
        for await (const e of this.#deps.jobs.events(live.record.job_id, last)) {
          yield e;
          last = e.id;
        }
        for (const e of unflushed) {
          if (e.id > last) {
            yield e;
            last = e.id;
          }
        }
        for (;;) {
          if (listener.overflow) break;
          const e = listener.queue.shift();
          if (e !== undefined) {
            if (e.id > last) {
              yield e;
              last = e.id;
              if (e.event === "end") return;
            }
            continue;
          }
          if (live.ended) return;
          await new Promise<void>((resolve) => (listener.wake = resolve));
        }
        // Fell too far behind: catch up from KV and the unflushed events, then resume live.
        listener.overflow = false;
        listener.queue = [];
        unflushed = [...live.inflight, ...live.pending];
      }
    } finally {
      live.unsubscribe(listener);
    }
  }

  /** Cancels every job running in this process and waits for them to finish. */
  async close(): Promise<void> {
    const running = [...this.#live.values()];
    for (const live of running) live.controller.abort();
    await Promise.allSettled(running.map((live) => live.done));
  }

  async #run(live: LiveJob, params: ValidParams): Promise<JobRecord> {
    const timer = setInterval(() => void live.tick(), this.#flushMs);
    let result: ReencryptResult | undefined;
    let failure: unknown;
    try {
      result = await runReencrypt(
        { ...params, signal: live.controller.signal },
        this.#deps.engine,
        (e: ReencryptEvent) => live.emit(e.event, e.data as unknown as Record<string, unknown>),
      );
    } catch (err) {
      failure = err;
      this.#warn(`job ${live.record.job_id} failed: ${err}`);
    } finally {
      clearInterval(timer);
    }
    const record = live.record;
    record.state = result?.state ?? "failed";
    record.finished_at = this.#now().toISOString();
    // The record is shown to the operator: the detail went to the log above.
    const error = result?.error ?? (failure === undefined ? undefined : publicReason(failure));
    if (error !== undefined) record.error = error;
    if (result) record.counts.listed = result.listed;
    if (!result) {
      live.emit("summary", {
        reencrypted: record.counts.reencrypted,
        would_reencrypt: record.counts.would_reencrypt,
        skipped: record.counts.skipped,
        other_epoch: record.counts.other_epoch,
        failed: record.counts.failed,
        duration_ms: Date.parse(record.finished_at) - Date.parse(record.started_at),
        state: "failed",
        error,
      });
    }
    live.emit("end", {});
    // The final commit carries `end` and the final state; retry a little, KV hiccups pass.
    for (let attempt = 1;; attempt++) {
      try {
        await live.flush();
        break;
      } catch (err) {
        if (attempt === 5) {
          this.#warn(`job ${record.job_id}: final state not stored: ${err}`);
          break;
        }
        await delay(100 * attempt);
      }
    }
    await this.#deps.jobs.release(live.lock, record.job_id).catch((err) =>
      this.#warn(`job ${record.job_id}: lock not released: ${err}`)
    );
    this.#live.delete(record.job_id);
    live.finish();
    await this.#audit("reencrypt_job_finished", {
      job_id: record.job_id,
      state: record.state,
      counts: record.counts,
      ...(record.error === undefined ? {} : { error: record.error }),
    });
    return structuredClone(record);
  }

  /** Releases `lock` and marks its job aborted when the job is provably dead. */
  async #freeIfAbandoned(lock: string, jobId: string): Promise<JobRecord | undefined> {
    if (this.#live.has(jobId)) return undefined;
    const record = await this.#deps.jobs.get(jobId);
    if (record === null || record.state !== "running") {
      await this.#deps.jobs.release(lock, jobId);
      return undefined;
    }
    const reason = this.#abandonment(record);
    if (reason === undefined) return undefined;
    const aborted = await this.#deps.jobs.markAborted(jobId, lock, reason, this.#now());
    if (aborted) {
      await this.#audit("reencrypt_job_abandoned", { job_id: jobId, error: reason });
    }
    return aborted ?? undefined;
  }

  /** Why `record`'s owner is dead, or `undefined` while it may be alive. */
  #abandonment(record: JobRecord): string | undefined {
    const owner = record.owner;
    if (owner.instance === this.#owner.instance) {
      return "abandoned: this process lost track of it";
    }
    // The reason is shown to the operator; which host and pid ran the job is for the log.
    if (owner.host === this.#owner.host && !this.#pidAlive(owner.pid)) {
      this.#warn(`job ${record.job_id}: its process (pid ${owner.pid}) exited before it finished`);
      return "abandoned: its process exited before it finished; re-run to continue";
    }
    const silentMs = this.#now().getTime() - Date.parse(record.heartbeat_at);
    if (silentMs > this.#staleMs) {
      const seconds = Math.round(silentMs / 1000);
      this.#warn(`job ${record.job_id}: no heartbeat from ${owner.host} pid ${owner.pid}`);
      return `abandoned: no heartbeat from its process for ${seconds} s; re-run to continue`;
    }
    return undefined;
  }

  async #audit(kind: string, data: Record<string, unknown>): Promise<void> {
    try {
      await this.#deps.audit?.append(kind, data);
    } catch (err) {
      this.#warn(`audit append ${kind} failed: ${err}`);
    }
  }
}

function paramsRecord(p: ValidParams): JobParamsRecord {
  return {
    operator_omni: p.operatorOmni,
    old_epoch: p.oldEpoch,
    new_epoch: p.newEpoch,
    dry_run: p.dryRun,
    concurrency: p.concurrency,
    classes: [...p.classes],
  };
}

/** `rj_` + 12 hex digits of ms time + 8 random hex: ids sort by start time. */
function newJobId(now: Date): string {
  const time = now.getTime().toString(16).padStart(12, "0");
  const random = crypto.getRandomValues(new Uint8Array(4)).toHex();
  return `rj_${time}${random}`;
}

function procPidAlive(pid: number): boolean {
  try {
    Deno.statSync("/proc/self");
  } catch {
    return true; // no /proc (not Linux): cannot tell, rely on the heartbeat
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    return true; // no permission: cannot tell, rely on the heartbeat
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
