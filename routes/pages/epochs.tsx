/**
 * `/epochs`: the K3 epochs with the latest census's blobs under each, and the re-encryption jobs
 * with their summaries. Admins get the controls (island EpochControls): rotate (confirmed
 * first), start a job (dry run or real, concurrency) and "Drop epoch N", enabled only when the
 * latest global census counts no blob under N (otherwise disabled with the reason beside it).
 * Operators see the census of their own actors and their own jobs, without controls.
 *
 * @module
 */

import type { VNode } from "preact";
import type { EpochInfo } from "../../lib/epochs/mod.ts";
import { DEFAULT_CONCURRENCY, MAX_CONCURRENCY } from "../../lib/reencrypt/mod.ts";
import type { Census, JobRecord } from "../../lib/state/mod.ts";
import EpochControls, { type Droppable } from "../../islands/EpochControls.tsx";
import { Island } from "../../lib/ui/mod.ts";
import { App, type Viewer } from "./_app.tsx";
import type { PageDeps, Session } from "./_deps.ts";
import { EpochTable, formatTime } from "./_epochs_table.tsx";

/** Jobs listed (the runner keeps the most recent ones of each operator). */
const JOBS_LISTED = 20;

export interface EpochsData {
  viewer: Viewer;
  operatorOmni: string;
  active: number;
  epochs: { epoch: number; state: EpochInfo["state"]; createdAt: string; blobs: number | null }[];
  censusAt: string | null;
  /** Admins only: every retiring epoch, droppable or with the reason it is not. */
  droppable: Droppable[];
  jobs: JobRecord[];
  /** `?rotated=N` after a rotation from this page. */
  rotated: number | null;
}

export async function load(
  deps: PageDeps,
  session: Session,
  query: Record<string, string> = {},
): Promise<EpochsData> {
  const me = await deps.broker.me(session);
  const viewer = { address: session.address, isAdmin: me.is_admin };
  const rotated = /^\d{1,15}$/.test(query.rotated ?? "") ? Number(query.rotated) : null;
  if (!deps.epochs) {
    return {
      viewer,
      operatorOmni: session.operatorOmni,
      active: 0,
      epochs: [],
      censusAt: null,
      droppable: [],
      jobs: [],
      rotated,
    };
  }
  const [view, jobs] = await Promise.all([
    deps.epochs.admin.overview(session.operatorOmni, { global: me.is_admin }),
    deps.epochs.runner.list(JOBS_LISTED, me.is_admin ? undefined : session.operatorOmni),
  ]);
  return {
    ...epochsModel({ viewer, ...view, now: new Date() }),
    operatorOmni: session.operatorOmni,
    jobs,
    rotated,
  };
}

/**
 * The table and what may be dropped. Only a global census can prove an epoch empty (an
 * operator's counts cover its own actors), so admins' drop buttons read the global one.
 */
export function epochsModel(input: {
  viewer: Viewer;
  active: number;
  epochs: EpochInfo[];
  latestGlobal: Census | null;
  latestOperator: Census | null;
  now: Date;
}): Pick<EpochsData, "viewer" | "active" | "epochs" | "censusAt" | "droppable"> {
  const { viewer } = input;
  const census = viewer.isAdmin ? input.latestGlobal : input.latestOperator;
  const counts = viewer.isAdmin ? census?.global : census?.operator;
  const epochs = [...input.epochs].sort((a, b) => b.epoch - a.epoch).map((e) => ({
    epoch: e.epoch,
    state: e.state,
    createdAt: e.createdAt,
    blobs: counts ? counts[String(e.epoch)] ?? 0 : null,
  }));
  const droppable: Droppable[] = [];
  if (viewer.isAdmin) {
    for (const e of epochs) {
      if (e.state !== "retiring") continue;
      if (!census || e.blobs === null) {
        droppable.push({ epoch: e.epoch, reason: "No census yet: take one to see what it holds." });
      } else if (e.blobs > 0) {
        droppable.push({
          epoch: e.epoch,
          reason: `The census of ${formatTime(census.taken_at)} (${
            age(census.taken_at, input.now)
          }) counted ${e.blobs.toLocaleString("en")} blob${
            e.blobs === 1 ? "" : "s"
          } under it: re-encrypt them and take a census again.`,
        });
      } else {
        droppable.push({ epoch: e.epoch, reason: null, censusAt: census.taken_at });
      }
    }
  }
  return { viewer, active: input.active, epochs, censusAt: census?.taken_at ?? null, droppable };
}

/** `3 min ago`, `2 h ago`, `just now`. */
export function age(iso: string, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - new Date(iso).getTime()) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} days ago`;
}

/** `1,024 re-encrypted, 2 failed` from a job's counts (zeros left out). */
export function jobSummary(job: JobRecord): string {
  const c = job.counts;
  const parts: [number, string][] = [
    [c.reencrypted, "re-encrypted"],
    [c.would_reencrypt, "would re-encrypt"],
    [c.skipped, "skipped"],
    [c.other_epoch, "under another epoch"],
    [c.failed, "failed"],
  ];
  const said = parts.filter(([n]) => n > 0).map(([n, w]) => `${n.toLocaleString("en")} ${w}`);
  return `${c.done.toLocaleString("en")} of ${c.listed.toLocaleString("en")} done` +
    (said.length ? ` (${said.join(", ")})` : "");
}

export function JobsTable({ jobs }: { jobs: JobRecord[] }): VNode {
  if (jobs.length === 0) return <p>No re-encryption job yet.</p>;
  return (
    <table class="jobs">
      <caption class="visually-hidden">Re-encryption jobs, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Job</th>
          <th scope="col">Epochs</th>
          <th scope="col">Kind</th>
          <th scope="col">State</th>
          <th scope="col">Started</th>
          <th scope="col">Summary</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((j) => (
          <tr key={j.job_id}>
            <th scope="row">
              <a href={`/jobs/${encodeURIComponent(j.job_id)}`}>
                <code>{j.job_id}</code>
              </a>
            </th>
            <td>{`${j.params.old_epoch} → ${j.params.new_epoch}`}</td>
            <td>{j.params.dry_run ? "dry run" : "real"}</td>
            <td>
              <span class={`state ${j.state}`}>{j.state}</span>
            </td>
            <td>
              <time datetime={j.started_at}>{formatTime(j.started_at)}</time>
            </td>
            <td>{jobSummary(j)}{j.error ? ` — ${j.error}` : ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export default function EpochsPage(data: EpochsData): VNode {
  const { viewer } = data;
  const whose = viewer.isAdmin ? "in the whole store" : "of your agents and you";
  return (
    <App title="Epochs & jobs" viewer={viewer} current="/epochs">
      <h1>Epochs &amp; jobs</h1>
      {data.rotated !== null && (
        <p class="notice ok" role="status">Rotated: epoch {data.rotated} is now active.</p>
      )}
      <section class="card" aria-labelledby="epochs-title">
        <h2 id="epochs-title">K3 epochs</h2>
        <p class="lead">
          Active epoch: <strong class="active-epoch">{data.active}</strong>
        </p>
        <p>
          {data.censusAt
            ? (
              <>
                Blobs {whose}, from the census of{" "}
                <time datetime={data.censusAt}>{formatTime(data.censusAt)}</time>.
              </>
            )
            : <>No census yet (take one on the overview).</>}
        </p>
        <EpochTable epochs={data.epochs} />
      </section>
      {viewer.isAdmin && (
        <Island
          component={EpochControls}
          props={{
            active: data.active,
            operatorOmni: data.operatorOmni,
            retiring: data.epochs.filter((e) => e.state === "retiring").map((e) => e.epoch),
            droppable: data.droppable,
            defaultConcurrency: DEFAULT_CONCURRENCY,
            maxConcurrency: MAX_CONCURRENCY,
          }}
        />
      )}
      <section class="card" aria-labelledby="jobs-title">
        <h2 id="jobs-title">Re-encryption jobs</h2>
        <JobsTable jobs={data.jobs} />
      </section>
    </App>
  );
}
