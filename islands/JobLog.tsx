/**
 * A re-encryption job's live log on `/jobs/:id`: per-blob rows streamed over SSE
 * (`GET /v1/reencrypt/jobs/:id/events`, same origin, so the session cookie goes along) while the
 * job runs, an outcome filter, a progress bar with rate and ETA, the summary at the end, and
 * cancel.
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

/** One blob's row (the `blob` event with its log id). */
export interface LogRow {
  id: number;
  key: string;
  outcome: string;
  from_epoch: number | null;
  reason?: string;
  ms: number;
}

export interface JobCountsView {
  listed: number;
  done: number;
  reencrypted: number;
  would_reencrypt: number;
  skipped: number;
  other_epoch: number;
  failed: number;
}

export interface JobLogProps extends Record<string, unknown> {
  jobId: string;
  state: string;
  counts: JobCountsView;
  rate: number | null;
  rows: LogRow[];
  lastId: number;
  error: string | null;
}

/** Non-failed rows the page keeps (failures are all kept). */
export const WINDOW = 1_000;

export const OUTCOMES = ["reencrypted", "would-reencrypt", "skipped", "other-epoch", "failed"];

const COUNT_OF: Record<string, keyof JobCountsView> = {
  "reencrypted": "reencrypted",
  "would-reencrypt": "would_reencrypt",
  "skipped": "skipped",
  "other-epoch": "other_epoch",
  "failed": "failed",
};

/** Appends `more` and keeps the newest `window` non-failed rows plus every failure. */
export function keepWindow(rows: LogRow[], more: LogRow[], window = WINDOW): LogRow[] {
  const all = rows.concat(more);
  let others = all.reduce((n, r) => r.outcome === "failed" ? n : n + 1, 0);
  if (others <= window) return all;
  return all.filter((r) => r.outcome === "failed" || others-- <= window);
}

/** `1 min 5 s`, or null when the rate says nothing. */
export function eta(counts: JobCountsView, rate: number | null): string | null {
  if (!rate || rate <= 0 || counts.listed <= counts.done) return null;
  const s = Math.ceil((counts.listed - counts.done) / rate);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

export default function JobLog(props: JobLogProps) {
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
    let tally: Partial<Record<keyof JobCountsView, number>> = {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A busy job sends hundreds of rows a second: render them in batches.
    const flush = () => {
      timer = undefined;
      if (pending.length) rows.value = keepWindow(rows.value, pending);
      const next = { ...counts.value };
      for (const [k, n] of Object.entries(tally)) next[k as keyof JobCountsView] += n;
      counts.value = next;
      pending = [];
      tally = {};
    };
    const later = () => timer ??= setTimeout(flush, 150);
    const fresh = (e: MessageEvent) => {
      const id = Number(e.lastEventId);
      if (!(id > last)) return false;
      last = id;
      return true;
    };
    const source = new EventSource(
      `/v1/reencrypt/jobs/${encodeURIComponent(props.jobId)}/events?last_event_id=${last}`,
    );
    live.value = true;
    source.addEventListener("blob", (e) => {
      if (!fresh(e)) return;
      const b = JSON.parse(e.data);
      pending.push({
        id: last,
        key: b.key,
        outcome: b.outcome,
        from_epoch: b.from_epoch,
        ...(b.reason ? { reason: b.reason } : {}),
        ms: b.ms,
      });
      const k = COUNT_OF[b.outcome];
      if (k) tally[k] = (tally[k] ?? 0) + 1;
      tally.done = (tally.done ?? 0) + 1;
      later();
    });
    source.addEventListener("progress", (e) => {
      if (!fresh(e)) return;
      const p = JSON.parse(e.data);
      flush();
      // `done` stays the count of blob rows received: with concurrency a progress event may
      // count blobs whose rows come after it, and those rows would then be counted twice.
      counts.value = { ...counts.value, listed: Math.max(p.listed, counts.value.listed) };
      rate.value = p.rate_per_s;
    });
    source.addEventListener("summary", (e) => {
      if (!fresh(e)) return;
      const s = JSON.parse(e.data);
      flush();
      counts.value = {
        ...counts.value,
        reencrypted: s.reencrypted,
        would_reencrypt: s.would_reencrypt,
        skipped: s.skipped,
        other_epoch: s.other_epoch,
        failed: s.failed,
        done: s.reencrypted + s.would_reencrypt + s.skipped + s.other_epoch + s.failed,
      };
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
  // The store is listed while blobs are worked on: until the listing is counted, no total.
  const listing = running && c.listed < c.done;
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
          {listing
            ? `${c.done.toLocaleString("en")} blobs done, still listing`
            : `${c.done.toLocaleString("en")} of ${c.listed.toLocaleString("en")} blobs done`}
          {running && rate.value ? `, ${rate.value.toLocaleString("en")} per second` : ""}
          {running && left ? `, about ${left} left` : ""}
        </label>
        {listing
          ? <progress id="job-progress" />
          : <progress id="job-progress" max={Math.max(c.listed, 1)} value={c.done} />}
        <table class="counts">
          <caption class="visually-hidden">Outcomes so far</caption>
          <tbody>
            <tr>
              <th scope="row">Re-encrypted</th>
              <td class="num">{c.reencrypted.toLocaleString("en")}</td>
              <th scope="row">Would re-encrypt</th>
              <td class="num">{c.would_reencrypt.toLocaleString("en")}</td>
              <th scope="row">Skipped</th>
              <td class="num">{c.skipped.toLocaleString("en")}</td>
              <th scope="row">Other epoch</th>
              <td class="num">{c.other_epoch.toLocaleString("en")}</td>
              <th scope="row">Failed</th>
              <td class="num">{c.failed.toLocaleString("en")}</td>
            </tr>
          </tbody>
        </table>
        {running && (
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
            {OUTCOMES.map((o) => <option key={o} value={o}>{o}</option>)}
          </select>
        </div>
        <p class="hint">
          Newest first; the page keeps the last {WINDOW.toLocaleString("en")}{" "}
          rows and every failure (the counts above cover every blob).
        </p>
        <table class="joblog">
          <caption class="visually-hidden">Blobs of this job, newest first</caption>
          <thead>
            <tr>
              <th scope="col" class="num">#</th>
              <th scope="col">Key</th>
              <th scope="col">Outcome</th>
              <th scope="col" class="num">From epoch</th>
              <th scope="col" class="num">ms</th>
            </tr>
          </thead>
          <tbody>
            {shown.value.map((r) => (
              <tr key={r.id} data-event-id={r.id}>
                <td class="num">{r.id}</td>
                <td>
                  <code class="key">{r.key}</code>
                </td>
                <td>
                  <span class={`outcome ${r.outcome}`}>{r.outcome}</span>
                  {r.reason && <span class="muted">{` (${r.reason})`}</span>}
                </td>
                <td class="num">{r.from_epoch ?? "—"}</td>
                <td class="num">{r.ms}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
