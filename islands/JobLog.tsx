/**
 * A job's live log: a re-encryption job on `/jobs/:id` (`kind: "reencrypt"`) or a legacy
 * migration on `/migrations/:id` (`kind: "migrate"`). Per-blob rows streamed over SSE
 * (`GET /v1/<kind>/jobs/:id/events`, same origin, so the session cookie goes along) while the
 * job runs, an outcome filter, progress, the summary at the end; a re-encryption job also has a
 * progress bar with rate and ETA (its `progress` events give the total) and cancel (a migration
 * has neither: its engine sends no total, and the API has no cancel).
 *
 * No row is lost or shown twice: the page starts after the last id the server rendered
 * (`?last_event_id=`), EventSource resends `Last-Event-ID` itself on a reconnect, and rows at or
 * below the last id seen are dropped. The DOM keeps a bounded window ({@linkcode WINDOW} newest
 * rows plus every failure) while the counts cover every blob. The stream is closed on `end`
 * (EventSource would otherwise reconnect forever).
 *
 * @module
 */

import { useComputed, useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { postJson } from "./_api.ts";

/**
 * One blob's row (the `blob` event with its log id): re-encryption rows carry `from_epoch` and
 * `ms`, migration rows `wallet`, `actor_omni` and `deleted`.
 */
export interface LogRow {
  id: number;
  key: string;
  outcome: string;
  reason?: string;
  from_epoch?: number | null;
  ms?: number;
  wallet?: string | null;
  actor_omni?: string | null;
  deleted?: boolean;
}

/**
 * Counts by count key (`done` = rows received; `listed` = the total a re-encryption job's
 * `progress` events give; a migration has none). A type, not an interface, so a job record's
 * counts pass as they are.
 */
export type JobCountsView = Record<string, number>;

export type JobKind = "reencrypt" | "migrate";

export interface JobLogProps extends Record<string, unknown> {
  /** Which API the job belongs to (default `reencrypt`). */
  kind?: JobKind;
  jobId: string;
  state: string;
  counts: JobCountsView;
  rate: number | null;
  rows: LogRow[];
  lastId: number;
  error: string | null;
  /** Migration: who each legacy wallet moves to (`operator`, `agent <label>`). */
  targets?: Record<string, string>;
}

/** Non-failed rows the page keeps (failures and conflicts are all kept). */
export const WINDOW = 1_000;

/** Outcomes that need the operator: never dropped from the window. */
const KEPT = new Set(["failed", "conflict"]);

/** Per kind: outcomes in the filter's order, with their count key and the counts table's label. */
export const KINDS: Record<JobKind, { outcome: string; count: string; label: string }[]> = {
  reencrypt: [
    { outcome: "reencrypted", count: "reencrypted", label: "Re-encrypted" },
    { outcome: "would-reencrypt", count: "would_reencrypt", label: "Would re-encrypt" },
    { outcome: "skipped", count: "skipped", label: "Skipped" },
    { outcome: "other-epoch", count: "other_epoch", label: "Other epoch" },
    { outcome: "failed", count: "failed", label: "Failed" },
  ],
  migrate: [
    { outcome: "migrated", count: "migrated", label: "Migrated" },
    { outcome: "would-migrate", count: "would_migrate", label: "Would migrate" },
    { outcome: "skipped", count: "skipped", label: "Skipped" },
    { outcome: "conflict", count: "conflict", label: "Conflict" },
    { outcome: "failed", count: "failed", label: "Failed" },
  ],
};

export const OUTCOMES = KINDS.reencrypt.map((o) => o.outcome);

/** Appends `more` and keeps the newest `window` rows plus every failure and conflict. */
export function keepWindow(rows: LogRow[], more: LogRow[], window = WINDOW): LogRow[] {
  const all = rows.concat(more);
  let others = all.reduce((n, r) => KEPT.has(r.outcome) ? n : n + 1, 0);
  if (others <= window) return all;
  return all.filter((r) => KEPT.has(r.outcome) || others-- <= window);
}

/** A `blob` event's data as a row (the fields of either kind that it has). */
export function toRow(id: number, b: Record<string, unknown>): LogRow {
  const row: LogRow = { id, key: String(b.key), outcome: String(b.outcome) };
  if (typeof b.reason === "string" && b.reason) row.reason = b.reason;
  if ("from_epoch" in b) row.from_epoch = b.from_epoch as number | null;
  if (typeof b.ms === "number") row.ms = b.ms;
  if ("wallet" in b) row.wallet = b.wallet as string | null;
  if ("actor_omni" in b) row.actor_omni = b.actor_omni as string | null;
  if (b.deleted === true) row.deleted = true;
  return row;
}

/** Counts (every count key of `kind` plus `done` and a migration's `deleted`) from rows. */
export function countRows(kind: JobKind, rows: Iterable<LogRow>): JobCountsView {
  const counts: JobCountsView = { done: 0 };
  for (const o of KINDS[kind]) counts[o.count] = 0;
  if (kind === "migrate") counts.deleted = 0;
  for (const r of rows) tally(kind, counts, r);
  return counts;
}

function tally(kind: JobKind, counts: Record<string, number>, r: LogRow): void {
  const k = KINDS[kind].find((o) => o.outcome === r.outcome)?.count;
  if (k) counts[k] = (counts[k] ?? 0) + 1;
  if (r.deleted) counts.deleted = (counts.deleted ?? 0) + 1;
  counts.done = (counts.done ?? 0) + 1;
}

/** `1 min 5 s`, or null when the rate says nothing. */
export function eta(counts: JobCountsView, rate: number | null): string | null {
  if (!rate || rate <= 0 || counts.listed === undefined || counts.listed <= counts.done) {
    return null;
  }
  const s = Math.ceil((counts.listed - counts.done) / rate);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

export default function JobLog(props: JobLogProps) {
  const kind: JobKind = props.kind ?? "reencrypt";
  const outcomes = KINDS[kind];
  const rows = useSignal(props.rows);
  const counts = useSignal(props.counts);
  const rate = useSignal(props.rate);
  const state = useSignal(props.state);
  const error = useSignal(props.error);
  const filter = useSignal("");
  const notice = useSignal("");
  const live = useSignal(false);
  const shown = useComputed(() => {
    const f = filter.value;
    const list = f ? rows.value.filter((r) => r.outcome === f) : rows.value;
    return list.slice().reverse();
  });

  useEffect(() => {
    if (props.state !== "running") return;
    let last = props.lastId;
    let pending: LogRow[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A busy job sends hundreds of rows a second: render them in batches.
    const flush = () => {
      timer = undefined;
      if (!pending.length) return;
      rows.value = keepWindow(rows.value, pending);
      const next = { ...counts.value };
      for (const r of pending) tally(kind, next, r);
      counts.value = next;
      pending = [];
    };
    const later = () => timer ??= setTimeout(flush, 150);
    const fresh = (e: MessageEvent) => {
      const id = Number(e.lastEventId);
      if (!(id > last)) return false;
      last = id;
      return true;
    };
    const source = new EventSource(
      `/v1/${kind}/jobs/${encodeURIComponent(props.jobId)}/events?last_event_id=${last}`,
    );
    live.value = true;
    source.addEventListener("blob", (e) => {
      if (!fresh(e)) return;
      pending.push(toRow(last, JSON.parse(e.data)));
      later();
    });
    source.addEventListener("progress", (e) => {
      if (!fresh(e)) return;
      const p = JSON.parse(e.data);
      flush();
      // `done` stays the count of blob rows received: with concurrency a progress event may
      // count blobs whose rows come after it, and those rows would then be counted twice.
      counts.value = { ...counts.value, listed: Math.max(p.listed, counts.value.listed ?? 0) };
      rate.value = p.rate_per_s;
    });
    source.addEventListener("summary", (e) => {
      if (!fresh(e)) return;
      const s = JSON.parse(e.data);
      flush();
      const next: JobCountsView = { ...counts.value, done: 0 };
      for (const o of outcomes) {
        next[o.count] = s[o.count] ?? 0;
        next.done += next[o.count];
      }
      if (typeof s.deleted === "number") next.deleted = s.deleted;
      counts.value = next;
      state.value = s.state;
      if (s.error) error.value = s.error;
    });
    source.addEventListener("end", () => {
      source.close();
      flush();
      live.value = false;
    });
    source.onerror = () => {
      // CLOSED: refused (not a network blip, which EventSource retries with Last-Event-ID).
      if (source.readyState === EventSource.CLOSED) {
        live.value = false;
        notice.value = "The live log stopped; reload the page to see the job's state.";
      }
    };
    return () => {
      source.close();
      if (timer) clearTimeout(timer);
    };
  }, []);

  async function cancel() {
    try {
      await postJson(`/v1/reencrypt/jobs/${encodeURIComponent(props.jobId)}/cancel`);
      notice.value = "Cancel asked: the job stops after the blobs in flight.";
    } catch (err) {
      notice.value = `Could not cancel: ${(err as Error).message}`;
    }
  }

  const c = counts.value;
  const running = state.value === "running";
  const left = eta(c, rate.value);
  // The store is listed while blobs are worked on: until the listing is counted, no total (a
  // migration never has one).
  const total = c.listed;
  const listing = running && (total === undefined || total < c.done);
  const done = `${c.done.toLocaleString("en")} ${c.done === 1 ? "blob" : "blobs"}`;
  return (
    <div class="joblog">
      <section class="card" aria-labelledby="progress-title">
        <h2 id="progress-title">Progress</h2>
        <p>
          State:{" "}
          <span class={`state ${state.value}`} data-job-state={state.value}>{state.value}</span>
          {live.value && <span class="muted">{` (live)`}</span>}
          {error.value && <span>{` — ${error.value}`}</span>}
        </p>
        <label for="job-progress">
          {total === undefined
            ? `${done} ${running ? "so far" : "done"}`
            : listing
            ? `${done} done, still listing`
            : `${c.done.toLocaleString("en")} of ${total.toLocaleString("en")} blobs done`}
          {running && rate.value ? `, ${rate.value.toLocaleString("en")} per second` : ""}
          {running && left ? `, about ${left} left` : ""}
        </label>
        {listing
          ? <progress id="job-progress" />
          : <progress id="job-progress" max={Math.max(total ?? c.done, 1)} value={c.done} />}
        <table class="counts">
          <caption class="visually-hidden">Outcomes so far</caption>
          <tbody>
            <tr>
              {outcomes.map((o) => [
                <th key={`h-${o.count}`} scope="row">{o.label}</th>,
                <td key={`d-${o.count}`} class="num" data-count={o.count}>
                  {(c[o.count] ?? 0).toLocaleString("en")}
                </td>,
              ])}
              {kind === "migrate" && [
                <th key="h-deleted" scope="row">Legacy deleted</th>,
                <td key="d-deleted" class="num" data-count="deleted">
                  {(c.deleted ?? 0).toLocaleString("en")}
                </td>,
              ]}
            </tr>
          </tbody>
        </table>
        {running && kind === "reencrypt" && (
          <div class="actions">
            <button type="button" class="danger" onClick={cancel}>Cancel job</button>
          </div>
        )}
        <p class="notice" role="status">{notice.value}</p>
      </section>
      <section class="card" aria-labelledby="log-title">
        <h2 id="log-title">Blobs</h2>
        <div class="field short">
          <label for="outcome-filter">Outcome</label>
          <select
            id="outcome-filter"
            value={filter.value}
            onChange={(e) => filter.value = (e.currentTarget as HTMLSelectElement).value}
          >
            <option value="">All</option>
            {outcomes.map((o) => <option key={o.outcome} value={o.outcome}>{o.outcome}</option>)}
          </select>
        </div>
        <p class="hint">
          Newest first; the page keeps the last {WINDOW.toLocaleString("en")} rows and every{" "}
          {kind === "migrate" ? "failure and conflict" : "failure"}{" "}
          (the counts above cover every blob).
        </p>
        <table class="joblog">
          <caption class="visually-hidden">Blobs of this job, newest first</caption>
          <thead>
            <tr>
              <th scope="col" class="num">#</th>
              <th scope="col" class="key">Key</th>
              <th scope="col">Outcome</th>
              {kind === "migrate"
                ? [
                  <th key="to" scope="col">Moves to</th>,
                  <th key="legacy" scope="col">Legacy object</th>,
                ]
                : [
                  <th key="from" scope="col" class="num">From epoch</th>,
                  <th key="ms" scope="col" class="num">ms</th>,
                ]}
            </tr>
          </thead>
          <tbody>
            {shown.value.map((r) => (
              <tr key={r.id} data-event-id={r.id} data-outcome={r.outcome}>
                <td class="num">{r.id}</td>
                <td>
                  <code class="key">{r.key}</code>
                </td>
                <td>
                  <span class={`outcome ${r.outcome}`}>{r.outcome}</span>
                  {r.reason && <span class="muted">{` (${r.reason})`}</span>}
                </td>
                {kind === "migrate"
                  ? [
                    <td key="to" class="nowrap">
                      {(r.wallet && props.targets?.[r.wallet]) ?? "—"}
                    </td>,
                    <td key="legacy" class="nowrap">{r.deleted ? "deleted" : "kept"}</td>,
                  ]
                  : [
                    <td key="from" class="num">{r.from_epoch ?? "—"}</td>,
                    <td key="ms" class="num">{r.ms ?? "—"}</td>,
                  ]}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
