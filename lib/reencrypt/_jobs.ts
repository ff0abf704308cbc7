/**
 * Re-encryption as persisted jobs: a {@linkcode JobRunner} starts the engine in the background,
 * stores a job record and an event log in KV (`KvJobStore`), allows one running job per
 * operator, cancels, and serves `events(jobId, afterId)` — the log from an id, as it grows,
 * until `end`. The HTTP SSE route and the headless CLI both consume that.
 *
 * **Event batching.** Events get increasing ids at once and are written to KV in chunks, at the
 * latest every `flushMs` (default 100 ms) or every `flushEvents` events (default 256), each flush
 * one atomic commit with the updated record. A KV commit per blob would cap a job at a few
 * thousand blobs per second.
 *
 * **Following.** Every follower runs one loop: read the stored log after its last id, then the
 * events of a job running here that are not stored yet (one shared buffer, the one the next flush
 * writes), then wait — for the job's next event when it runs in this process, for `pollMs` when
 * another process writes the log. It keeps no queue of its own, so a slow follower costs no
 * memory: it simply reads further back in KV. It yields an event only when it continues the ids
 * it has (a flush may move events from the buffer to KV between the two reads; it then reads KV
 * again), so every follower sees every event after its id exactly once, in order.
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
  type JobCounts,
  type JobOwner,
  type JobParamsRecord,
  type JobRecord,
  type JobRequest,
  type JobState,
  type KvJobStore,
} from "../state/mod.ts";
import type { DataClass } from "../crypto/mod.ts";
import { omniToHex } from "../identity/mod.ts";
import { Tally, validateParams } from "./_classify.ts";
import { publicReason, runReencrypt } from "./_engine.ts";
import { JobNotFound, JobRunning } from "./_errors.ts";
import type {
  JobEvent,
  ReencryptDeps,
  ReencryptEvent,
  ReencryptResult,
  ValidParams,
} from "./_types.ts";

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

/** One job running in this process. */
class LiveJob {
  /** Counts the `blob` events as the engine counts its outcomes. */
  readonly tally = new Tally();
  listed = 0;
  /** The id of the last event emitted. */
  through = 0;
  /** The id of the last event stored in KV. */
  storedThrough = 0;
  ended = false;
  readonly controller = new AbortController();
  done!: Promise<JobRecord>;
  /** Emitted, not yet stored: ids `storedThrough + 1 … through`. Only `flush` removes events. */
  #unstored: JobEvent[] = [];
  /** Settles at the next event or at the end; followers of this job wait on it together. */
  #next = Promise.withResolvers<void>();
  #flushChain: Promise<void> = Promise.resolve();
  #flushQueued = false;
  #lastHeartbeat = 0;
  #lastCancelPoll = Date.now();

  constructor(
    readonly record: JobRecord,
    readonly lock: string,
    readonly runner: JobRunnerInternals,
  ) {}

  emit(event: ReencryptEvent | { event: "end"; data: Record<string, never> }): void {
    const e: JobEvent = { id: ++this.through, ...event };
    this.#unstored.push(e);
    if (e.event === "blob") this.tally.add(e.data.outcome);
    else if (e.event === "progress") this.listed = Math.max(this.listed, e.data.listed);
    this.#wake();
    if (this.#unstored.length >= this.runner.flushEvents) void this.flush().catch(() => {});
  }

  /**
   * The buffered events right after `afterId`, or none when they would not continue it (a
   * flush stored them meanwhile: the caller reads KV again). A copy: flushes do not change it.
   */
  unstoredAfter(afterId: number): JobEvent[] {
    const first = this.#unstored[0];
    if (first === undefined || first.id > afterId + 1) return [];
    return this.#unstored.slice(afterId + 1 - first.id);
  }

  /** Resolves once an event after `afterId` exists, or the job has ended. */
  next(afterId: number): Promise<void> {
    return this.through > afterId || this.ended ? Promise.resolve() : this.#next.promise;
  }

  /** The record as readers see it: counts up to the last event emitted. */
  snapshot(): JobRecord {
    return { ...structuredClone(this.record), counts: this.#counts() };
  }

  #counts(): JobCounts {
    const t = this.tally;
    return {
      listed: this.listed,
      done: t.done,
      reencrypted: t.reencrypted,
      would_reencrypt: t.would_reencrypt,
      skipped: t.skipped,
      other_epoch: t.other_epoch,
      failed: t.failed,
    };
  }

  /** Writes the buffered events and the record; serialized, and coalesced while one is queued. */
  flush(): Promise<void> {
    if (this.#flushQueued) return this.#flushChain;
    this.#flushQueued = true;
    this.#flushChain = this.#flushChain.catch(() => {}).then(async () => {
      this.#flushQueued = false;
      const batch = this.#unstored.slice();
      const record = this.snapshot();
      record.last_event_id = batch.at(-1)?.id ?? this.storedThrough;
      record.heartbeat_at = this.runner.now().toISOString();
      this.#lastHeartbeat = Date.now();
      // On failure the batch stays buffered for the next attempt; ids stay in order.
      await this.runner.jobs.append(record, batch);
      this.#unstored.splice(0, batch.length);
      this.storedThrough = record.last_event_id;
      this.record.heartbeat_at = record.heartbeat_at;
      this.record.last_event_id = record.last_event_id;
    });
    return this.#flushChain;
  }

  /** Called every `flushMs`: flush what waits, refresh the heartbeat, poll for a cancel. */
  async tick(): Promise<void> {
    const heartbeatDue = Date.now() - this.#lastHeartbeat >= this.runner.heartbeatMs;
    if (this.#unstored.length > 0 || heartbeatDue) {
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

  /** Sets the final state; the `end` event and the last flush follow. */
  settle(state: JobState, finishedAt: string, error: string | undefined, listed?: number): void {
    this.record.state = state;
    this.record.finished_at = finishedAt;
    if (error !== undefined) this.record.error = error;
    if (listed !== undefined) this.listed = listed;
  }

  /** No more events: wakes every follower so that it reads the rest and stops. */
  finish(): void {
    this.ended = true;
    this.#wake();
  }

  #wake(): void {
    this.#next.resolve();
    this.#next = Promise.withResolvers<void>();
  }
}

/** What a live job needs from its runner. */
interface JobRunnerInternals {
  jobs: KvJobStore;
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
    if (live) return live.snapshot();
    const record = await this.#deps.jobs.get(jobId);
    if (!record) throw new JobNotFound(jobId);
    return record;
  }

  /** The most recent jobs first; with `operatorOmni`, only that operator's. */
  async list(limit = 20, operatorOmni?: string): Promise<JobRecord[]> {
    const records = await this.#deps.jobs.list(limit, operatorOmni);
    return records.map((r) => this.#live.get(r.job_id)?.snapshot() ?? r);
  }

  /**
   * Cancels a running job (in this process at once; in another process within its heartbeat
   * interval) and returns its record. A finished job is returned unchanged.
   */
  async cancel(jobId: string): Promise<JobRecord> {
    const live = this.#live.get(jobId);
    if (live) {
      live.controller.abort();
      return live.snapshot();
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
   * The job's events with `id > afterId`, in order, each once: the stored log, then new events
   * as they happen, ending with `end` (see the module doc). Works for jobs running in this
   * process, in another process (polling KV every `pollMs`), and finished jobs (a replay).
   * Throws `JobNotFound` for an unknown id.
   */
  async *events(jobId: string, afterId = 0): AsyncGenerator<JobEvent> {
    let live = this.#live.get(jobId);
    if (live === undefined && !(await this.#deps.jobs.get(jobId))) throw new JobNotFound(jobId);
    let last = afterId;
    for (;;) {
      // Run here and not stored yet: straight from the buffer, without a KV read.
      const buffered = live?.unstoredAfter(last) ?? [];
      for (const e of buffered) {
        yield e;
        last = e.id;
        if (e.event === "end") return;
      }
      if (buffered.length > 0) continue;
      if (live !== undefined && live.through <= last) {
        // Ended without `end` in the log (its final flush failed): nothing more will come.
        if (live.ended) return;
        await live.next(last);
        continue;
      }
      // Older than the buffer, or written by another process: in KV.
      for await (const e of this.#deps.jobs.events(jobId, last)) {
        yield e;
        last = e.id;
        if (e.event === "end") return;
      }
      live ??= this.#live.get(jobId);
      if (live !== undefined) continue;
      const record = await this.#deps.jobs.get(jobId);
      if (record === null || record.state !== "running") {
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
        (e: ReencryptEvent) => live.emit(e),
      );
    } catch (err) {
      failure = err;
      this.#warn(`job ${live.record.job_id} failed: ${err}`);
    } finally {
      clearInterval(timer);
    }
    const finishedAt = this.#now().toISOString();
    // The record is shown to the operator: the detail went to the log above.
    const error = result?.error ?? (failure === undefined ? undefined : publicReason(failure));
    live.settle(result?.state ?? "failed", finishedAt, error, result?.listed);
    if (!result) {
      const durationMs = Date.parse(finishedAt) - Date.parse(live.record.started_at);
      live.emit({ event: "summary", data: live.tally.summary(durationMs, "failed", error) });
    }
    live.emit({ event: "end", data: {} });
    const jobId = live.record.job_id;
    // The final commit carries `end` and the final state; retry a little, KV hiccups pass.
    for (let attempt = 1;; attempt++) {
      try {
        await live.flush();
        break;
      } catch (err) {
        if (attempt === 5) {
          this.#warn(`job ${jobId}: final state not stored: ${err}`);
          break;
        }
        await delay(100 * attempt);
      }
    }
    await this.#deps.jobs.release(live.lock, jobId).catch((err) =>
      this.#warn(`job ${jobId}: lock not released: ${err}`)
    );
    this.#live.delete(jobId);
    live.finish();
    const record = live.snapshot();
    await this.#audit("reencrypt_job_finished", {
      job_id: jobId,
      state: record.state,
      counts: record.counts,
      ...(record.error === undefined ? {} : { error: record.error }),
    });
    return record;
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
