/**
 * The epoch lifecycle scheduler (ARCHITECTURE §14): each pass ({@linkcode LifecycleScheduler.tick})
 * takes or renews the lease, finishes what a crashed pass left (the write-ahead `running`
 * record), asks the planner for the one step due, and runs it:
 *
 * - **rotate** (active epoch older than ROTATE_EVERY, or ROTATE_COALESCE after the first of a
 *   burst of revocations) through `EpochAdmin.rotate`;
 * - **reencrypt**: REENCRYPT_AFTER a rotation, one job over the whole store (`"all"`) from the
 *   retiring epoch to the active one, at a bounded concurrency;
 * - **destroy**: DESTROY_AFTER a rotation, a global census, then `EpochAdmin.destroy` without
 *   force; blobs left (or the guard's refusal) defer it — audited with the count — and the next
 *   try, REENCRYPT_AFTER later, runs the job again first;
 * - **sweep**: the TTL sweep of idle memory and inbound blobs.
 *
 * Crash safety: a step writes `running` (with the active epoch for a rotation) before acting.
 * After a crash the next pass compares with the keystore: a rotation that happened is adopted
 * (not repeated), a destruction that happened is recorded, anything else is planned again from
 * the keystore's table — a retiring epoch stays retiring until destroyed, so a destroy cannot be
 * skipped. The lease (KV, compare-and-swap, expiring) keeps a second process on the same data
 * directory from acting; it takes over once the holder stops renewing.
 *
 * ```ts
 * const scheduler = new LifecycleScheduler({ policy: config.lifecycle, admin, runner, kv, audit });
 * scheduler.start(); // a pass every 5 s
 * await scheduler.stop();
 * ```
 *
 * @module
 */

import type { LifecyclePolicy } from "../config/mod.ts";
import { type EpochInfo, EpochInUse, EpochNotRetiring } from "../epochs/mod.ts";
import type { EpochAdmin } from "../epochs/mod.ts";
import type { JobRunner } from "../reencrypt/mod.ts";
import type { AuditLog } from "../state/mod.ts";
import type { IdentityEvent, IdentityEventFeed } from "../identity/mod.ts";
import {
  type ForwardSecrecyWindow,
  forwardSecrecyWindow,
  nextRotation,
  nextStep,
  type PlannedStep,
} from "./_plan.ts";
import {
  type EpochProgress,
  type LifecycleState,
  LifecycleStore,
  type PendingRevocations,
  type StepName,
} from "./_store.ts";
import type { TtlSweeper } from "./_sweep.ts";

/**
 * Chain events the scheduler listens to (lib/identity's port; `ChainClient` implements it). With
 * the two optional reads, revocations mined while no service ran are replayed at start.
 */
export interface RevocationFeed extends IdentityEventFeed {
  identityEventsBetween?(from: bigint, to: bigint): Promise<IdentityEvent[]>;
  latestBlock?(): Promise<bigint>;
}

/** Blobs in flight in the scheduler's jobs: a fraction of the engine's default, so requests stay quick. */
export const LIFECYCLE_JOB_CONCURRENCY = 4;
/** How long the lease lasts without renewal: another process takes over this long after a crash. */
export const LEASE_MS = 30_000;

/** What the scheduler works with. */
export interface LifecycleDeps {
  policy: LifecyclePolicy;
  admin: Pick<
    EpochAdmin,
    "overview" | "rotate" | "census" | "destroy" | "reconcile" | "recoverInterrupted"
  >;
  runner: Pick<JobRunner, "start" | "wait" | "get" | "cancel">;
  kv: Deno.Kv;
  audit: AuditLog;
  sweeper?: TtlSweeper;
  now?: () => Date;
  /** This process's lease identity; default host, pid and a random id. */
  holder?: string;
  leaseMs?: number;
  jobConcurrency?: number;
  /**
   * Whether the store holds data of this agent: only such revocations trigger a rotation. Any
   * wallet can register an agent and revoke it; counting those let a stranger force a global
   * rotation (and a whole-store job) every coalescing window (review). Unset: every one counts.
   */
  servesActor?: (operatorOmni: string, actorOmni: string) => Promise<boolean>;
  /** Every finished step, for metrics: `outcome` is done, deferred, adopted or failed. */
  onStep?: (step: StepName, outcome: string, seconds: number) => void;
  warn?: (message: string) => void;
}

/** What a pass did. */
export interface TickResult {
  /** Whether this process holds the lease (only the holder acts). */
  holder: boolean;
  step?: StepName;
  outcome?: string;
  epoch?: number;
}

/** The scheduler's state for the console, `/healthz` and `/metrics`. */
export interface LifecycleStatus {
  /** Whether this process holds the lease. */
  holder: boolean;
  running: LifecycleState["running"];
  next_rotation: { at: string; reason: string } | null;
  last_rotation: LifecycleState["last_rotation"];
  last_destruction: LifecycleState["last_destruction"];
  /** The latest deferred destruction not yet done. */
  deferred:
    | (NonNullable<EpochProgress["deferred"]> & { epoch: number; next_attempt_at?: string })
    | null;
  pending_revocations: PendingRevocations | null;
  window: ForwardSecrecyWindow;
  last_sweep_at: string | null;
}

/** See the module doc. */
export class LifecycleScheduler {
  readonly store: LifecycleStore;
  readonly holder: string;
  readonly #d: LifecycleDeps;
  readonly #now: () => Date;
  readonly #leaseMs: number;
  #ticking: Promise<TickResult> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #holding = false;

  constructor(deps: LifecycleDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#leaseMs = deps.leaseMs ?? LEASE_MS;
    this.store = new LifecycleStore(deps.kv);
    this.holder = deps.holder ??
      `${Deno.hostname()}:${Deno.pid}:${crypto.randomUUID().slice(0, 8)}`;
  }

  /**
   * Counts agent revocations from the chain feed (kept in KV, so a restart does not lose a
   * pending one). Returns the unsubscribe function.
   */
  watchRevocations(feed: RevocationFeed): () => void {
    // One batch at a time, in order, the catch-up first: the mark of the last counted block only
    // moves forward, so nothing is counted twice (restart, or two processes) or skipped.
    let queue: Promise<void> = Promise.resolve();
    const run = (step: () => Promise<void>) => {
      queue = queue.then(step).catch((err) =>
        this.#warn(`lifecycle: could not record revocation(s): ${err}`)
      );
    };
    run(() => this.#catchUp(feed));
    return feed.onIdentityEvents((events) => {
      const through = events.reduce<bigint | undefined>(
        (max, e) => max === undefined || e.block > max ? e.block : max,
        undefined,
      );
      if (through !== undefined) run(() => this.#count(events, through));
    });
  }

  /**
   * Counts the revocations mined since the last counted block, up to the chain's head (those of
   * a time no service ran). The first run ever starts at the head.
   */
  async #catchUp(feed: RevocationFeed): Promise<void> {
    if (!feed.identityEventsBetween || !feed.latestBlock) return;
    const head = await feed.latestBlock();
    const seen = await this.store.revocationsSeenBlock();
    if (seen === null) {
      await this.store.addRevocationsThrough([], head, this.#now());
      return;
    }
    if (head > seen) await this.#count(await feed.identityEventsBetween(seen + 1n, head), head);
  }

  /** Counts the served revocations among `events` (blocks up to `through`). */
  async #count(events: IdentityEvent[], through: bigint): Promise<void> {
    const revoked = this.#d.policy.rotateOnRevoke
      ? events.filter((e) => e.type === "agent_revoked")
      : [];
    const served = [];
    for (const e of revoked) {
      if (e.type !== "agent_revoked") continue;
      if (!this.#d.servesActor || await this.#d.servesActor(e.operatorOmni, e.actorOmni)) {
        served.push(e.block);
      }
    }
    await this.store.addRevocationsThrough(served, through, this.#now());
  }

  /** Folds `count` revocations into the pending burst. */
  async recordRevocations(count: number): Promise<void> {
    await this.store.addRevocations(count, this.#now());
  }

  /**
   * Runs passes until {@linkcode stop}: the next one at once after a pass that ran a step (more
   * may be due), else after `intervalMs`.
   */
  start(intervalMs = 5_000): void {
    this.#stopped = false;
    const loop = async () => {
      if (this.#stopped) return;
      let acted = false;
      try {
        acted = (await this.tick()).step !== undefined;
      } catch (err) {
        this.#warn(`lifecycle: pass failed: ${(err as Error).message}`);
      }
      if (!this.#stopped) this.#timer = setTimeout(loop, acted ? 0 : intervalMs);
    };
    this.#timer = setTimeout(loop, 0);
  }

  /** Stops the passes, waits for the running one, and gives the lease up. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#ticking?.catch(() => {});
    if (this.#holding) await this.store.releaseLease(this.holder).catch(() => {});
    this.#holding = false;
  }

  /** One pass: at most one step. Concurrent calls share the pass in progress. */
  tick(): Promise<TickResult> {
    if (this.#ticking) return this.#ticking;
    this.#ticking = this.#pass().finally(() => {
      this.#ticking = null;
    });
    return this.#ticking;
  }

  async #pass(): Promise<TickResult> {
    const now = this.#now();
    this.#holding = await this.store.acquireLease(this.holder, now.getTime(), this.#leaseMs);
    if (!this.#holding) return { holder: false };
    let state = await this.store.read();
    if (state.running) {
      const resumed = await this.#resume(state.running);
      state = await this.store.read();
      if (resumed) return resumed;
    }
    const overview = await this.#d.admin.overview(undefined, { global: false });
    const revocations = await this.store.revocations();
    const plan = nextStep({
      policy: this.#d.policy,
      now: now.getTime(),
      epochs: overview.epochs,
      state,
      revocations: revocations.value,
    });
    if (!plan) return { holder: true };
    return await this.#run(plan, overview.active, revocations.entry);
  }

  async #run(
    plan: PlannedStep,
    active: number,
    revocations: Deno.KvEntryMaybe<PendingRevocations>,
  ): Promise<TickResult> {
    const started = this.#now();
    const epoch = "epoch" in plan ? plan.epoch : undefined;
    await this.store.update((s) => {
      s.running = {
        step: plan.step,
        started_at: started.toISOString(),
        holder: this.holder,
        ...(epoch === undefined ? {} : { epoch }),
        ...(plan.step === "rotate" ? { from_active: active, reason: plan.reason } : {}),
      };
    });
    // Renew the lease while the step runs; losing it cancels the step.
    const lost = new AbortController();
    const renew = setInterval(async () => {
      const ok = await this.store.acquireLease(this.holder, this.#now().getTime(), this.#leaseMs)
        .catch(() => false);
      if (!ok) lost.abort(new Error("the lifecycle lease was lost"));
    }, Math.max(1000, this.#leaseMs / 3));
    let outcome = "done";
    let details: Record<string, unknown> = {};
    try {
      if (plan.step === "rotate") {
        details = await this.#rotate(plan.reason, revocations);
      } else if (plan.step === "reencrypt") {
        details = await this.#reencrypt(plan.epoch, active, lost.signal);
      } else if (plan.step === "destroy") {
        ({ outcome, details } = await this.#destroy(plan.epoch));
      } else {
        const result = await this.#d.sweeper!.sweep(lost.signal, {
          deleting: async (tombstone) => {
            await this.store.update((s) => {
              if (s.running) s.running.deleting = tombstone ?? undefined;
            });
          },
        });
        details = { ...result };
        await this.store.update((s) => {
          s.last_sweep_at = started.toISOString();
        });
      }
    } catch (err) {
      outcome = "failed";
      const retry = Math.min(this.#d.policy.reencryptAfterMs, 600_000);
      const until = new Date(this.#now().getTime() + retry).toISOString();
      details = { error: (err as Error).message, retry_at: until };
      await this.store.update((s) => {
        s.backoff[plan.step] = until;
      });
      this.#warn(`lifecycle: ${plan.step} failed (retry at ${until}): ${(err as Error).message}`);
    } finally {
      clearInterval(renew);
    }
    await this.store.update((s) => {
      s.running = null;
      s.last_step = plan.step;
      if (outcome !== "failed") delete s.backoff[plan.step];
    });
    await this.#finished(plan.step, outcome, started, {
      ...(epoch === undefined ? {} : { epoch }),
      ...details,
    });
    return { holder: true, step: plan.step, outcome, epoch };
  }

  async #finished(
    step: StepName,
    outcome: string,
    started: Date,
    data: Record<string, unknown>,
  ): Promise<void> {
    const seconds = (this.#now().getTime() - started.getTime()) / 1000;
    this.#d.onStep?.(step, outcome, seconds);
    await this.#d.audit.append("lifecycle_step", { step, outcome, ...data }).catch((err) =>
      this.#warn(`lifecycle: audit append failed: ${err}`)
    );
  }

  async #rotate(
    reason: string,
    revocations: Deno.KvEntryMaybe<PendingRevocations>,
  ): Promise<Record<string, unknown>> {
    const r = await this.#d.admin.rotate({ by: "lifecycle" });
    await this.store.clearRevocations(revocations, this.#now());
    await this.store.update((s) => {
      s.last_rotation = { epoch: r.active, at: r.at, reason };
    });
    return {
      reason,
      active: r.active,
      previous: r.previous,
      chain: r.chain.status,
      revocations: revocations.value?.count ?? 0,
    };
  }

  async #reencrypt(
    epoch: number,
    active: number,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const job = await this.#d.runner.start({
      operator_omni: "all",
      old_epoch: epoch,
      new_epoch: active,
      dry_run: false,
      concurrency: this.#d.jobConcurrency ?? LIFECYCLE_JOB_CONCURRENCY,
    });
    await this.store.update((s) => {
      if (s.running) s.running.job_id = job.job_id;
    });
    const onLost = () => void this.#d.runner.cancel(job.job_id).catch(() => {});
    signal.addEventListener("abort", onLost, { once: true });
    let record;
    try {
      record = await this.#d.runner.wait(job.job_id);
    } finally {
      signal.removeEventListener("abort", onLost);
    }
    if (record.state !== "succeeded") {
      throw new Error(`re-encryption job ${job.job_id} ended ${record.state}`);
    }
    await this.#jobDone(epoch, job.job_id);
    return {
      job_id: job.job_id,
      new_epoch: active,
      reencrypted: record.counts.reencrypted,
      failed: record.counts.failed,
      skipped: record.counts.skipped,
    };
  }

  async #jobDone(epoch: number, jobId: string): Promise<void> {
    const at = this.#now().toISOString();
    await this.store.update((s) => {
      s.epochs[String(epoch)] = { ...s.epochs[String(epoch)], job_done_at: at, job_id: jobId };
    });
  }

  async #destroy(
    epoch: number,
  ): Promise<{ outcome: string; details: Record<string, unknown> }> {
    const census = await this.#d.admin.census({ scope: "global" });
    const count = census.global?.[String(epoch)] ?? 0;
    if (count > 0) return await this.#defer(epoch, count, "blobs_remain", census.taken_at);
    try {
      const r = await this.#d.admin.destroy(epoch, { by: "lifecycle" });
      await this.#destroyed(epoch, r.destroyedAt);
      return {
        outcome: "done",
        details: { census_taken_at: census.taken_at, chain: r.chain.status },
      };
    } catch (err) {
      // A write under the epoch since the census, say: the guard refused; try again later.
      if (err instanceof EpochInUse) {
        return await this.#defer(epoch, err.count ?? count, err.reason, census.taken_at);
      }
      // Someone else (an admin, `deno task signer drop-old-k3`) destroyed it meanwhile.
      if (err instanceof EpochNotRetiring && err.state === "destroyed") {
        const info = (await this.#d.admin.overview(undefined, { global: false })).epochs
          .find((e) => e.epoch === epoch);
        await this.#destroyed(epoch, info?.destroyedAt ?? this.#now().toISOString());
        return { outcome: "done", details: { already_destroyed: true } };
      }
      throw err;
    }
  }

  async #destroyed(epoch: number, at: string): Promise<void> {
    await this.store.update((s) => {
      s.last_destruction = { epoch, at };
      delete s.epochs[String(epoch)];
    });
  }

  async #defer(
    epoch: number,
    count: number,
    reason: string,
    censusTakenAt: string,
  ): Promise<{ outcome: string; details: Record<string, unknown> }> {
    const now = this.#now();
    const next = new Date(now.getTime() + this.#d.policy.reencryptAfterMs).toISOString();
    const deferred = { count, at: now.toISOString(), reason, census_taken_at: censusTakenAt };
    await this.store.update((s) => {
      // The job runs again before the next try: blobs written by a process it did not see.
      s.epochs[String(epoch)] = { deferred, next_attempt_at: next };
    });
    await this.#d.audit.append("lifecycle_destroy_deferred", {
      epoch,
      count,
      reason,
      census_taken_at: censusTakenAt,
      next_attempt_at: next,
    });
    return { outcome: "deferred", details: { count, reason, next_attempt_at: next } };
  }

  /**
   * Finishes the step a dead pass left in `running`: adopts what the keystore shows happened,
   * otherwise clears it so the planner decides again. Returns a result when it adopted a step.
   */
  async #resume(running: NonNullable<LifecycleState["running"]>): Promise<TickResult | null> {
    const overview = await this.#d.admin.overview(undefined, { global: false });
    const started = new Date(running.started_at);
    let outcome = "retry";
    const data: Record<string, unknown> = { resumed_from: running.holder };
    if (running.step === "rotate" && overview.active !== running.from_active) {
      const active = overview.epochs.find((e: EpochInfo) => e.epoch === overview.active)!;
      const revocations = await this.store.revocations();
      if (revocations.value && Date.parse(revocations.value.first_at) <= started.getTime()) {
        await this.store.clearRevocations(revocations.entry, this.#now());
      }
      await this.store.update((s) => {
        s.last_rotation = {
          epoch: active.epoch,
          at: active.createdAt,
          reason: running.reason ?? "schedule",
        };
      });
      outcome = "adopted";
      Object.assign(data, { active: active.epoch, previous: running.from_active });
      await this.#recoverChain("advance_epoch", active.epoch);
    } else if (running.step === "destroy" && running.epoch !== undefined) {
      const info = overview.epochs.find((e: EpochInfo) => e.epoch === running.epoch);
      if (info?.state === "destroyed") {
        await this.#destroyed(running.epoch, info.destroyedAt!);
        outcome = "adopted";
        await this.#recoverChain("epoch_destroyed", running.epoch);
      }
    } else if (running.step === "sweep" && running.deleting && this.#d.sweeper) {
      // Deleted, but the crash came before its tombstone: write it now.
      const gone = (await this.#d.sweeper.deps.store.head(running.deleting.key)) === null;
      if (gone) {
        await this.#d.audit.append("ttl_swept", { ...running.deleting, after_crash: true });
        await this.#d.sweeper.deps.touches.forget(running.deleting.key);
      }
      Object.assign(data, { deleting: running.deleting.key, tombstone_written: gone });
    } else if (running.step === "reencrypt" && running.job_id && running.epoch !== undefined) {
      const record = await this.#d.runner.get(running.job_id).catch(() => null);
      const final = record?.state === "running"
        ? await this.#d.runner.wait(running.job_id)
        : record;
      if (final?.state === "succeeded") {
        await this.#jobDone(running.epoch, running.job_id);
        outcome = "adopted";
      }
      Object.assign(data, { job_id: running.job_id, job_state: final?.state ?? "unknown" });
    }
    await this.store.update((s) => {
      s.running = null;
    });
    const epoch = running.epoch;
    await this.#finished(running.step, outcome, started, {
      ...(epoch === undefined ? {} : { epoch }),
      ...data,
    });
    return outcome === "adopted" ? { holder: true, step: running.step, outcome, epoch } : null;
  }

  /** A chain record the crash may have cut off: recorded now, or kept pending (never twice). */
  async #recoverChain(kind: "advance_epoch" | "epoch_destroyed", epoch: number): Promise<void> {
    try {
      await this.#d.admin.recoverInterrupted(kind, epoch);
    } catch (err) {
      this.#warn(`lifecycle: chain record of ${kind} ${epoch} not recovered: ${err}`);
    }
  }

  /** The scheduler's state; see {@linkcode LifecycleStatus}. */
  async status(): Promise<LifecycleStatus> {
    const [state, revocations, lease, overview] = await Promise.all([
      this.store.read(),
      this.store.revocations(),
      this.store.leaseHolder(),
      this.#d.admin.overview(undefined, { global: false }),
    ]);
    const now = this.#now().getTime();
    const next = nextRotation(this.#d.policy, overview.epochs, revocations.value);
    const deferredEntry = Object.entries(state.epochs)
      .filter(([, p]) => p.deferred !== undefined)
      .sort(([a], [b]) => Number(b) - Number(a))[0];
    return {
      holder: lease?.holder === this.holder && lease.expires_at > now,
      running: state.running,
      next_rotation: next ? { at: new Date(next.at).toISOString(), reason: next.reason } : null,
      last_rotation: state.last_rotation,
      last_destruction: state.last_destruction,
      deferred: deferredEntry
        ? {
          epoch: Number(deferredEntry[0]),
          ...deferredEntry[1].deferred!,
          next_attempt_at: deferredEntry[1].next_attempt_at,
        }
        : null,
      pending_revocations: revocations.value,
      window: forwardSecrecyWindow(overview.epochs, now, this.#d.policy),
      last_sweep_at: state.last_sweep_at,
    };
  }

  #warn(message: string): void {
    (this.#d.warn ?? console.warn)(message);
  }
}
