/**
 * `migrate-legacy` as a job of the running service (issue 13): started over HTTP with an operator
 * session, followed over SSE like a re-encryption job (`blob` events with increasing ids, a
 * `summary`, then `end`; a reconnect with `Last-Event-ID` replays what was missed).
 *
 * Jobs live in this process's memory (the last 20 per operator, each log kept whole): a
 * migration is a one-off, and the headless `deno task migrate-legacy` is the resumable path — a
 * job lost with a restart is re-run, which the engine makes idempotent. The legacy signer key a
 * request carries is held only by the running job and never logged or stored.
 *
 * @module
 */

import {
  type MigrateBlobEvent,
  type MigrateDeps,
  type MigrateParams,
  type MigrateSummary,
  resolveMapping,
  runMigration,
} from "./_engine.ts";
import type { LegacySigner } from "./_legacy.ts";

export type MigrationJobState = "running" | "succeeded" | "failed" | "aborted";

/** A job as the API shows it (no signer key, ever). */
export interface MigrationJob {
  job_id: string;
  state: MigrationJobState;
  operator_omni: string;
  params: {
    operator: string;
    map: Record<string, string>;
    dry_run: boolean;
    delete_legacy: boolean;
  };
  summary?: MigrateSummary;
  started_at: string;
  finished_at?: string;
  error?: string;
  last_event_id: number;
}

export type MigrationEvent =
  | { id: number; event: "blob"; data: MigrateBlobEvent }
  | { id: number; event: "summary"; data: MigrateSummary }
  | { id: number; event: "end"; data: Record<string, never> };

/** 409: this operator already has a migration running. */
export class MigrationRunning extends Error {
  readonly code = "job_running";
  constructor(readonly jobId: string) {
    super("a migration is already running for this operator");
  }
}

const KEEP_PER_OPERATOR = 20;

interface Live {
  job: MigrationJob;
  events: MigrationEvent[];
  wake: Set<() => void>;
}

/**
 * ```ts
 * const jobs = new MigrationJobs((signer) => ({ source: store, target: store, worker, signer, identity, audit }));
 * const job = await jobs.start({ operator, map: {} }, signer);
 * for await (const e of jobs.events(job.job_id)) console.log(e);
 * ```
 */
export class MigrationJobs {
  readonly #jobs = new Map<string, Live>();

  constructor(private readonly deps: (signer: LegacySigner) => MigrateDeps) {}

  /**
   * Checks the mapping against the chain (throws `InvalidMigrateParams` before anything runs),
   * refuses a second running job of the operator ({@linkcode MigrationRunning}), then runs.
   */
  async start(params: MigrateParams, signer: LegacySigner): Promise<MigrationJob> {
    const deps = this.deps(signer);
    const { operatorOmni } = await resolveMapping(params, deps.identity);
    const running = [...this.#jobs.values()].find((l) =>
      l.job.operator_omni === operatorOmni && l.job.state === "running"
    );
    if (running) throw new MigrationRunning(running.job.job_id);
    const job: MigrationJob = {
      job_id: crypto.randomUUID(),
      state: "running",
      operator_omni: operatorOmni,
      params: {
        operator: params.operator.toLowerCase(),
        map: params.map,
        dry_run: params.dryRun ?? false,
        delete_legacy: params.deleteLegacy ?? false,
      },
      started_at: new Date().toISOString(),
      last_event_id: 0,
    };
    const live: Live = { job, events: [], wake: new Set() };
    this.#jobs.set(job.job_id, live);
    this.#prune(operatorOmni);
    const push = (e: Omit<MigrationEvent, "id">) => {
      live.events.push({ ...e, id: ++job.last_event_id } as MigrationEvent);
      for (const w of live.wake) w();
    };
    void runMigration(deps, params, (data) => push({ event: "blob", data }))
      .then((summary) => {
        job.summary = summary;
        job.state = summary.state;
        job.error = summary.error;
        push({ event: "summary", data: summary });
      }, (err) => {
        job.state = "failed";
        job.error = `internal_error: ${(err as Error).name}`;
        deps.warn?.(`migration ${job.job_id}: ${(err as Error).message}`);
      })
      .finally(() => {
        job.finished_at = new Date().toISOString();
        push({ event: "end", data: {} });
      });
    return { ...job };
  }

  /** The job, or `undefined`. */
  get(jobId: string): MigrationJob | undefined {
    const live = this.#jobs.get(jobId);
    return live ? { ...live.job } : undefined;
  }

  /** The operator's jobs, newest first. */
  list(operatorOmni: string): MigrationJob[] {
    return [...this.#jobs.values()].map((l) => ({ ...l.job }))
      .filter((j) => j.operator_omni === operatorOmni).reverse();
  }

  /** Events after `afterId`, live until `end`. Stop by `return()` on the generator. */
  async *events(jobId: string, afterId = 0): AsyncGenerator<MigrationEvent> {
    const live = this.#jobs.get(jobId);
    if (!live) return;
    let next = afterId;
    while (true) {
      while (next < live.events.length) {
        const e = live.events[next++];
        if (e.id > afterId) yield e;
        if (e.event === "end") return;
      }
      // Already past the end (a reconnect after `end`, or an id beyond it): nothing will follow.
      if (live.events.at(-1)?.event === "end") return;
      await new Promise<void>((resolve) => {
        const w = () => {
          live.wake.delete(w);
          resolve();
        };
        live.wake.add(w);
      });
    }
  }

  #prune(operatorOmni: string): void {
    const mine = [...this.#jobs.values()].filter((l) =>
      l.job.operator_omni === operatorOmni && l.job.state !== "running"
    );
    for (const l of mine.slice(0, Math.max(0, mine.length - KEEP_PER_OPERATOR))) {
      this.#jobs.delete(l.job.job_id);
    }
  }
}
