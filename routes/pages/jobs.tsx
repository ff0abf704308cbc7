/**
 * `/jobs/:id`: one re-encryption job, server-rendered with its stored log (the window the live
 * island keeps: the newest rows plus every failure), then followed live by the JobLog island
 * from the last rendered id. Another operator's job is 403, an unknown one 404, as in the API.
 *
 * @module
 */

import type { VNode } from "preact";
import { JobNotFound } from "../../lib/reencrypt/mod.ts";
import type { JobRecord } from "../../lib/state/mod.ts";
import JobLog, { keepWindow, type LogRow } from "../../islands/JobLog.tsx";
import { Island } from "../../lib/ui/mod.ts";
import { App, type Viewer } from "./_app.tsx";
import type { PageDeps, Session } from "./_deps.ts";
import { JobTimes } from "./_epochs_table.tsx";

export type JobPageData =
  | {
    found: true;
    viewer: Viewer;
    job: JobRecord;
    rows: LogRow[];
    lastId: number;
    rate: number | null;
  }
  | { found: false; status: 403 | 404; viewer: Viewer; jobId: string };

/** Rows read per batch while building the window (bounded memory for a huge log). */
const BATCH = 5_000;

export async function load(deps: PageDeps, session: Session, jobId: string): Promise<JobPageData> {
  const me = await deps.broker.me(session);
  const viewer = { address: session.address, isAdmin: me.is_admin };
  const missing = (status: 403 | 404): JobPageData => ({ found: false, status, viewer, jobId });
  if (!deps.epochs || !/^[A-Za-z0-9_-]{1,64}$/.test(jobId)) return missing(404);
  let job: JobRecord;
  try {
    job = await deps.epochs.runner.get(jobId);
  } catch (err) {
    if (err instanceof JobNotFound) return missing(404);
    throw err;
  }
  if (job.params.operator_omni !== session.operatorOmni && !me.is_admin) return missing(403);
  // The stored log up to the record's last id; a running job's follower would wait for more.
  const until = job.last_event_id;
  let rows: LogRow[] = [];
  let batch: LogRow[] = [];
  let lastId = 0;
  let rate: number | null = null;
  if (until > 0) {
    for await (const e of deps.epochs.runner.events(jobId, 0)) {
      if (e.event === "end") break;
      lastId = e.id;
      if (e.event === "blob") {
        const b = e.data;
        batch.push({
          id: e.id,
          key: b.key,
          outcome: b.outcome,
          from_epoch: b.from_epoch,
          ...(b.reason ? { reason: b.reason } : {}),
          ms: b.ms,
        });
        if (batch.length === BATCH) {
          rows = keepWindow(rows, batch);
          batch = [];
        }
      } else if (e.event === "progress") rate = e.data.rate_per_s;
      if (e.id >= until) break;
    }
  }
  rows = keepWindow(rows, batch);
  return { found: true, viewer, job, rows, lastId, rate };
}

export default function JobPage(data: JobPageData): VNode {
  if (!data.found) {
    return (
      <App title="Job" viewer={data.viewer} current="/epochs">
        <p class="crumbs">
          <a href="/epochs">Epochs &amp; jobs</a>
        </p>
        <h1>No such job</h1>
        <p>
          {data.status === 403
            ? "This job belongs to another operator."
            : `There is no re-encryption job ${data.jobId}.`}
        </p>
      </App>
    );
  }
  const { job } = data;
  const p = job.params;
  return (
    <App title={`Job ${job.job_id}`} viewer={data.viewer} current="/epochs">
      <p class="crumbs">
        <a href="/epochs">Epochs &amp; jobs</a>
      </p>
      <h1>
        Job <code>{job.job_id}</code>
      </h1>
      <dl class="facts">
        <dt>Epochs</dt>
        <dd>{`${p.old_epoch} → ${p.new_epoch}`}</dd>
        <dt>Kind</dt>
        <dd>{p.dry_run ? "dry run (changes nothing)" : "real"}</dd>
        <dt>Blobs of</dt>
        <dd>
          {p.operator_omni === "all" ? "every operator" : <code>{p.operator_omni}</code>}
        </dd>
        <dt>Concurrency</dt>
        <dd>{p.concurrency}</dd>
        <JobTimes started={job.started_at} finished={job.finished_at} />
      </dl>
      <Island
        component={JobLog}
        props={{
          jobId: job.job_id,
          state: job.state,
          counts: { ...job.counts },
          rate: data.rate,
          rows: data.rows,
          lastId: data.lastId,
          error: job.error ?? null,
        }}
      />
    </App>
  );
}
