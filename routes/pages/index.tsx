/**
 * `/`, the overview: the active epoch, every epoch with its state and its blobs in the latest
 * census (a table, with decorative bars drawn in SVG — the table is the accessible form), the
 * census time with "take census", and warnings: retiring epochs that still hold blobs, failed or
 * aborted re-encryption jobs, and (admins) pending chain records. With the lifecycle scheduler
 * (lib/lifecycle), a card with the next rotation due, the running step, the last destruction,
 * why a destroy was deferred and the forward-secrecy window (warned past its bound).
 *
 * The loader reads through lib/ (`Broker.me`, `EpochAdmin.overview`, `JobRunner.list`); the
 * model is a pure function of what it read, tested without a server.
 *
 * @module
 */

import type { VNode } from "preact";
import type { EpochInfo } from "../../lib/epochs/mod.ts";
import type { Census, EpochCounts, JobRecord, PendingChainRecord } from "../../lib/state/mod.ts";
import TakeCensus from "../../islands/TakeCensus.tsx";
import { Island } from "../../lib/ui/mod.ts";
import { App, type Viewer } from "./_app.tsx";
import { EpochTable, formatTime } from "./_epochs_table.tsx";
import type { PageDeps, Session } from "./_deps.ts";
import type { LifecycleStatus } from "../../lib/lifecycle/mod.ts";
import type { AnchorStatus } from "../../lib/integrity/mod.ts";

/** One epoch's row. `blobs`: null when the census has no count for it. */
export interface EpochRow {
  epoch: number;
  state: EpochInfo["state"];
  createdAt: string;
  blobs: number | null;
}

export interface Warning {
  kind:
    | "retiring_with_blobs"
    | "job_failed"
    | "chain_pending"
    | "window_overdue"
    | "integrity_blocked"
    | "anchor_failed";
  text: string;
}

export interface OverviewData {
  viewer: Viewer;
  active: number;
  epochs: EpochRow[];
  census: { scope: "global" | "operator"; takenAt: string | null; destroyed: number };
  warnings: Warning[];
  /** The scheduler's status; `null` without a scheduler. */
  lifecycle: LifecycleStatus | null;
}

/** How many recent jobs the overview looks through for failures. */
const RECENT_JOBS = 20;

/** The signed-in operator's overview; admins see the whole store's census and chain records. */
export async function load(deps: PageDeps, session: Session): Promise<OverviewData> {
  const me = await deps.broker.me(session);
  const viewer = { address: session.address, isAdmin: me.is_admin };
  if (!deps.epochs) {
    return {
      viewer,
      active: 0,
      epochs: [],
      census: { scope: "operator", takenAt: null, destroyed: 0 },
      warnings: [],
      lifecycle: null,
    };
  }
  const [view, jobs, lifecycle] = await Promise.all([
    deps.epochs.admin.overview(session.operatorOmni, { global: me.is_admin }),
    deps.epochs.runner.list(RECENT_JOBS, me.is_admin ? undefined : session.operatorOmni),
    deps.lifecycle?.status() ?? null,
  ]);
  const integrity = deps.integrity?.() ?? null;
  return overviewModel({ viewer, ...view, jobs, lifecycle, integrity });
}

/**
 * The overview from what the loader read: admins' counts are the latest global census,
 * operators' the latest census of their own actors.
 */
export function overviewModel(input: {
  viewer: Viewer;
  active: number;
  epochs: EpochInfo[];
  latestGlobal: Census | null;
  latestOperator: Census | null;
  pending: PendingChainRecord[];
  jobs: JobRecord[];
  lifecycle?: LifecycleStatus | null;
  /** Vault integrity's anchor status (lib/integrity). */
  integrity?: AnchorStatus | null;
}): OverviewData {
  const { viewer } = input;
  const census = viewer.isAdmin ? input.latestGlobal : input.latestOperator;
  const counts: EpochCounts | undefined = viewer.isAdmin ? census?.global : census?.operator;
  const epochs = [...input.epochs].sort((a, b) => b.epoch - a.epoch).map((e) => ({
    epoch: e.epoch,
    state: e.state,
    createdAt: e.createdAt,
    blobs: counts ? counts[String(e.epoch)] ?? 0 : null,
  }));
  const warnings: Warning[] = [];
  for (const e of epochs) {
    if (e.state === "retiring" && e.blobs) {
      warnings.push({
        kind: "retiring_with_blobs",
        text: `Epoch ${e.epoch} is retiring but still holds ${plural(e.blobs, "blob")} ` +
          `(census of ${
            formatTime(census?.taken_at ?? "")
          }). Re-encrypt them before it can be destroyed.`,
      });
    }
  }
  for (const job of input.jobs) {
    if (job.state !== "failed" && job.state !== "aborted") continue;
    warnings.push({
      kind: "job_failed",
      text: `Re-encryption job ${job.job_id} (epoch ${job.params.old_epoch} → ` +
        `${job.params.new_epoch}) ${job.state === "failed" ? "failed" : "was aborted"}` +
        `${job.error ? ` (${job.error})` : ""}, started ${formatTime(job.started_at)}.`,
    });
  }
  if (viewer.isAdmin) {
    for (const p of input.pending) {
      warnings.push({
        kind: "chain_pending",
        text: `Chain record pending since ${formatTime(p.at)}: epoch ${p.epoch} ` +
          `${p.kind === "advance_epoch" ? "activated" : "destroyed"} (${p.reason}). ` +
          "Run deno task signer reconcile once the chain is reachable.",
      });
    }
  }
  const integrity = input.integrity;
  if (integrity?.blocked) {
    warnings.push({
      kind: "integrity_blocked",
      text: `Blob writes are refused: ${integrity.blocked}. After investigating, an admin ` +
        "acknowledges with deno task signer integrity-ack.",
    });
  }
  if (viewer.isAdmin && integrity?.last_error) {
    warnings.push({
      kind: "anchor_failed",
      text: `Anchoring the vault on chain failed ${plural(integrity.failures, "time")} ` +
        `(${integrity.last_error}); ${integrity.pending_writes} change(s) wait` +
        `${
          integrity.next_attempt_at ? `, next attempt ${formatTime(integrity.next_attempt_at)}` : ""
        }.`,
    });
  }
  const lifecycle = input.lifecycle ? forViewer(input.lifecycle, viewer) : null;
  if (lifecycle?.window.warning) {
    warnings.push({
      kind: "window_overdue",
      text: `Forward secrecy: ${lifecycle.window.warning}.`,
    });
  }
  return {
    viewer,
    active: input.active,
    lifecycle,
    epochs,
    census: {
      scope: viewer.isAdmin ? "global" : "operator",
      takenAt: census?.taken_at ?? null,
      destroyed: counts?.destroyed ?? 0,
    },
    warnings,
  };
}

/**
 * What an operator who is not an admin may see of the scheduler: a deferral's blob count is a
 * global census figure and pending revocations are every operator's, both admins' only (as
 * `census.global` is).
 */
function forViewer(status: LifecycleStatus, viewer: Viewer): LifecycleStatus {
  if (viewer.isAdmin) return status;
  const deferred = status.deferred && { ...status.deferred, count: undefined };
  return { ...status, deferred, pending_revocations: null };
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
}

export default function OverviewPage(data: OverviewData): VNode {
  const { viewer, census } = data;
  const whose = census.scope === "global" ? "in the whole store" : "of your agents and you";
  return (
    <App title="Overview" viewer={viewer}>
      <h1>Overview</h1>
      <section class="card" aria-labelledby="warnings-title">
        <h2 id="warnings-title">Warnings</h2>
        {data.warnings.length === 0
          ? <p class="ok">Nothing needs your attention.</p>
          : (
            <ul class="warnings">
              {data.warnings.map((w, i) => <li key={i} class={`warning ${w.kind}`}>{w.text}</li>)}
            </ul>
          )}
      </section>
      <section class="card" aria-labelledby="epochs-title">
        <h2 id="epochs-title">K3 epochs</h2>
        <p class="lead">
          Active epoch: <strong class="active-epoch">{data.active}</strong>
        </p>
        <p>
          {census.takenAt
            ? (
              <>
                Blobs per epoch {whose}, from the census of{" "}
                <time datetime={census.takenAt}>{formatTime(census.takenAt)}</time>.
              </>
            )
            : <>No census yet: take one to see how many blobs each epoch holds {whose}.</>}
        </p>
        <EpochTable epochs={data.epochs} bars />
        {census.destroyed > 0 && (
          <p class="warning">
            {plural(census.destroyed, "blob")} under destroyed epochs (unreadable leftovers).
          </p>
        )}
        <Island component={TakeCensus} props={{ scope: census.scope }} />
      </section>
      {data.lifecycle && <LifecycleCard status={data.lifecycle} />}
    </App>
  );
}

/** Seconds as the largest whole units, e.g. `3 d 4 h`. */
export function formatDuration(seconds: number): string {
  const units: [string, number][] = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [name, size] of units) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)} ${name}`);
      rest %= size;
    }
  }
  return parts.length === 0 ? "0 s" : parts.join(" ");
}

/** The lifecycle card: what the scheduler will do next and what it did. */
function LifecycleCard({ status }: { status: LifecycleStatus }): VNode {
  const at = (iso: string) => <time datetime={iso}>{formatTime(iso)}</time>;
  const w = status.window;
  return (
    <section class="card lifecycle" aria-labelledby="lifecycle-title">
      <h2 id="lifecycle-title">Epoch lifecycle</h2>
      <dl class="facts">
        <dt>Next rotation due</dt>
        <dd class="next-rotation">
          {status.next_rotation
            ? (
              <>
                {at(status.next_rotation.at)} ({status.next_rotation.reason === "revocation"
                  ? "after agent revocations"
                  : "on schedule"})
              </>
            )
            : "none scheduled (rotation is off)"}
        </dd>
        <dt>Running step</dt>
        <dd class="running-step">
          {status.running
            ? (
              <>
                {status.running.step}
                {status.running.epoch === undefined ? "" : ` (epoch ${status.running.epoch})`}
                {" since "}
                {at(status.running.started_at)}
              </>
            )
            : "none"}
        </dd>
        <dt>Last destruction</dt>
        <dd class="last-destruction">
          {status.last_destruction
            ? <>epoch {status.last_destruction.epoch}, {at(status.last_destruction.at)}</>
            : "none yet"}
        </dd>
        {status.deferred && (
          <>
            <dt>Destroy deferred</dt>
            <dd class="deferred warning">
              Epoch {status.deferred.epoch}:{" "}
              {status.deferred.count === undefined
                ? "blobs"
                : plural(status.deferred.count, "blob")} remained (
              {status.deferred.reason}) at {at(status.deferred.at)}
              {status.deferred.next_attempt_at && (
                <>; next try {at(status.deferred.next_attempt_at)}</>
              )}
            </dd>
          </>
        )}
        {status.pending_revocations && (
          <>
            <dt>Revocations pending</dt>
            <dd>
              {status.pending_revocations.count} since {at(status.pending_revocations.first_at)}
            </dd>
          </>
        )}
        <dt>Forward-secrecy window</dt>
        <dd class={w.warning ? "window warning" : "window"}>
          {formatDuration(w.seconds)} (oldest epoch not destroyed: {w.oldest_epoch}
          {w.bound_seconds === null ? "" : `; bound ${formatDuration(w.bound_seconds)}`})
        </dd>
      </dl>
    </section>
  );
}
