/**
 * `/migrations` and `/migrations/:id`: the signed-in operator's `migrate-legacy` jobs (issue 13),
 * read through `MigrationJobs` as `GET /v1/migrate/jobs` reads them, and one job's per-blob log:
 * server-rendered from the job's stored events, then followed live by the JobLog island
 * (`kind: "migrate"`) from the last rendered id. An unknown job is 404, another operator's 403,
 * as in the API.
 *
 * Nothing here starts a job: that needs the legacy signer key, which decrypts every credential of
 * the old deployment, and the console keeps no secret of that reach in a page (docs/DECISIONS.md,
 * issue 13). The page shows the command and the API call that start one instead.
 *
 * @module
 */

import type { VNode } from "preact";
import type { MigrateSummary, MigrationJob } from "../../lib/migrate/mod.ts";
import JobLog, { countRows, keepWindow, type LogRow, toRow } from "../../islands/JobLog.tsx";
import { Island } from "../../lib/ui/mod.ts";
import { App, type Viewer } from "./_app.tsx";
import type { PageDeps, Session } from "./_deps.ts";
import { formatTime, JobTimes } from "./_epochs_table.tsx";

export interface MigrationsData {
  viewer: Viewer;
  /** The service's public URL, for the `--url` of the command shown. */
  publicUrl: string;
  jobs: MigrationJob[];
}

export type MigrationJobData =
  | {
    found: true;
    viewer: Viewer;
    job: MigrationJob;
    rows: LogRow[];
    counts: Record<string, number>;
    lastId: number;
  }
  | { found: false; status: 403 | 404; viewer: Viewer; jobId: string };

/** Rows read per batch while building the window (bounded memory for a huge log). */
const BATCH = 5_000;

async function viewerOf(deps: PageDeps, session: Session): Promise<Viewer> {
  const me = await deps.broker.me(session);
  return { address: session.address, isAdmin: me.is_admin };
}

export async function load(deps: PageDeps, session: Session): Promise<MigrationsData> {
  return {
    viewer: await viewerOf(deps, session),
    publicUrl: deps.publicUrl,
    jobs: deps.migrations?.list(session.operatorOmni) ?? [],
  };
}

export async function loadJob(
  deps: PageDeps,
  session: Session,
  jobId: string,
): Promise<MigrationJobData> {
  const viewer = await viewerOf(deps, session);
  const job = deps.migrations?.get(jobId);
  if (!deps.migrations || !job) return { found: false, status: 404, viewer, jobId };
  // As the API: a migration job is its operator's only (admins included).
  if (job.operator_omni !== session.operatorOmni) {
    return { found: false, status: 403, viewer, jobId };
  }
  // The log up to the snapshot's last id; a running job's follower would wait for more.
  const until = job.last_event_id;
  let rows: LogRow[] = [];
  let batch: LogRow[] = [];
  let lastId = 0;
  let counts = countRows("migrate", []);
  let summary: MigrateSummary | undefined;
  if (until > 0) {
    for await (const e of deps.migrations.events(jobId, 0)) {
      if (e.event === "end") break;
      lastId = e.id;
      if (e.event === "blob") {
        batch.push(toRow(e.id, { ...e.data }));
        if (batch.length === BATCH) {
          counts = add(counts, countRows("migrate", batch));
          rows = keepWindow(rows, batch);
          batch = [];
        }
      } else if (e.event === "summary") summary = e.data;
      if (e.id >= until) break;
    }
  }
  counts = add(counts, countRows("migrate", batch));
  rows = keepWindow(rows, batch);
  if (summary) counts = summaryCounts(summary);
  return { found: true, viewer, job, rows, counts, lastId };
}

function add(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n;
  return out;
}

function summaryCounts(s: MigrateSummary): Record<string, number> {
  return {
    done: s.migrated + s.would_migrate + s.skipped + s.conflict + s.failed,
    migrated: s.migrated,
    would_migrate: s.would_migrate,
    skipped: s.skipped,
    conflict: s.conflict,
    failed: s.failed,
    deleted: s.deleted,
  };
}

/** `3 migrated, 1 conflict`, or the blobs so far while it runs. */
export function migrationSummary(job: MigrationJob): string {
  const s = job.summary;
  if (!s) {
    // Every event before the summary is a blob row.
    return job.state === "running" ? `${job.last_event_id.toLocaleString("en")} blobs so far` : "";
  }
  const parts: string[] = [];
  const n = (v: number, what: string) => {
    if (v > 0) parts.push(`${v.toLocaleString("en")} ${what}`);
  };
  n(s.migrated, "migrated");
  n(s.would_migrate, "would migrate");
  n(s.skipped, "skipped");
  n(s.conflict, s.conflict === 1 ? "conflict" : "conflicts");
  n(s.failed, "failed");
  n(s.deleted, "legacy deleted");
  return parts.length ? parts.join(", ") : "no legacy blob found";
}

function kindOf(p: MigrationJob["params"]): string {
  return p.dry_run ? "dry run" : p.delete_legacy ? "real, deleting legacy" : "real";
}

/** Who each legacy wallet moves to, as the log's "Moves to" column says it. */
function targetsOf(p: MigrationJob["params"]): Record<string, string> {
  const out: Record<string, string> = { [p.operator.toLowerCase()]: "you (operator)" };
  for (const [wallet, label] of Object.entries(p.map)) out[wallet.toLowerCase()] = `agent ${label}`;
  return out;
}

function HowToStart({ viewer, publicUrl }: { viewer: Viewer; publicUrl: string }): VNode {
  const address = viewer.address;
  return (
    <section class="card" aria-labelledby="start-title">
      <h2 id="start-title">Start a migration</h2>
      <p>
        The console does not start migrations: a job needs the legacy signer key, which decrypts
        every credential the old deployment wrote, and the console keeps no secret of that reach in
        a web page. Start one from a terminal on a machine that holds the key file (mode 0600); with
        {" "}
        <code>--url</code>, it runs as a job of this service and appears here, its log live.
      </p>
      <p>First a dry run (it decrypts and reports, and writes and deletes nothing):</p>
      <pre class="command"><code>{`deno task cli login --url ${publicUrl} --key-file operator.key
deno task migrate-legacy --url ${publicUrl} \\
  --operator ${address} \\
  --legacy-signer-key legacy.key --dry-run`}</code></pre>
      <p>
        Then the same without <code>--dry-run</code>; add <code>--delete-legacy</code>{" "}
        only once you are sure: each legacy object is deleted after its new copy was read back and
        verified. {viewer.isAdmin
          ? (
            <>
              Agent wallets move with <code>--map 0xWALLET=label</code> (admins only, over HTTP).
            </>
          )
          : (
            <>
              Moving agent wallets (<code>--map</code>) over HTTP needs an admin session.
            </>
          )}
      </p>
      <p class="hint">
        The API is <code>POST /v1/migrate/jobs</code> with{" "}
        <code>{`{"operator", "legacy_signer_key", "dry_run": true}`}</code>{" "}
        and an operator session. Without <code>--url</code>, <code>migrate-legacy</code>{" "}
        runs in its own process on the data directory and does not show here. Jobs live in the
        service's memory: the newest 20 are listed, and a restart forgets them (a re-run is safe,
        the migration is idempotent).
      </p>
    </section>
  );
}

export default function MigrationsPage(data: MigrationsData): VNode {
  const { jobs } = data;
  return (
    <App title="Migrations" viewer={data.viewer} current="/migrations">
      <h1>Migrations</h1>
      <p class="lead">
        Credentials the reference implementation wrote (wallet-keyed layout) moved into AgentKeys.
      </p>
      <section class="card" aria-labelledby="jobs-title">
        <h2 id="jobs-title">Your migration jobs</h2>
        {jobs.length === 0
          ? <p class="empty">No migration jobs yet: start one as shown below.</p>
          : (
            <table class="jobs migrations">
              <caption class="visually-hidden">Migration jobs, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">Kind</th>
                  <th scope="col">State</th>
                  <th scope="col">Started</th>
                  <th scope="col">Finished</th>
                  <th scope="col">Counts</th>
                </tr>
              </thead>
              <tbody>
                {jobs.map((j) => (
                  <tr key={j.job_id} data-job-id={j.job_id}>
                    <th scope="row">
                      <a href={`/migrations/${encodeURIComponent(j.job_id)}`}>
                        <code>{j.job_id}</code>
                      </a>
                    </th>
                    <td>{kindOf(j.params)}</td>
                    <td>
                      <span class={`state ${j.state}`}>{j.state}</span>
                    </td>
                    <td>
                      <time datetime={j.started_at}>{formatTime(j.started_at)}</time>
                    </td>
                    <td>
                      {j.finished_at
                        ? <time datetime={j.finished_at}>{formatTime(j.finished_at)}</time>
                        : "—"}
                    </td>
                    <td>{migrationSummary(j)}{j.error ? ` — ${j.error}` : ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
      </section>
      <HowToStart viewer={data.viewer} publicUrl={data.publicUrl} />
    </App>
  );
}

export function MigrationJobPage(data: MigrationJobData): VNode {
  if (!data.found) {
    return (
      <App title="Migration job" viewer={data.viewer} current="/migrations">
        <p class="crumbs">
          <a href="/migrations">Migrations</a>
        </p>
        <h1>No such migration job</h1>
        <p>
          {data.status === 403
            ? "This migration job belongs to another operator."
            : `There is no migration job ${data.jobId}. Jobs live in the service's memory: a restart forgets them.`}
        </p>
      </App>
    );
  }
  const { job } = data;
  const p = job.params;
  const mapped = Object.entries(p.map);
  return (
    <App title={`Migration ${job.job_id}`} viewer={data.viewer} current="/migrations">
      <p class="crumbs">
        <a href="/migrations">Migrations</a>
      </p>
      <h1>
        Migration <code>{job.job_id}</code>
      </h1>
      <dl class="facts">
        <dt>Kind</dt>
        <dd>
          {p.dry_run
            ? "dry run (writes and deletes nothing)"
            : p.delete_legacy
            ? "real; legacy objects deleted once their copy is verified"
            : "real; legacy objects kept"}
        </dd>
        <dt>Operator wallet</dt>
        <dd>
          <code>{p.operator}</code>
        </dd>
        <dt>Agent wallets</dt>
        <dd>
          {mapped.length === 0 ? "none" : mapped.map(([wallet, label], i) => (
            <span key={wallet}>
              {i > 0 && ", "}
              <code>{wallet}</code>
              {` → ${label}`}
            </span>
          ))}
        </dd>
        <JobTimes started={job.started_at} finished={job.finished_at} />
      </dl>
      <Island
        component={JobLog}
        props={{
          kind: "migrate" as const,
          jobId: job.job_id,
          state: job.state,
          counts: data.counts,
          rate: null,
          rows: data.rows,
          lastId: data.lastId,
          error: job.error ?? null,
          targets: targetsOf(p),
        }}
      />
    </App>
  );
}
