/**
 * `/audit`: the audit log (lib/state `KvAuditLog`), newest first, filtered by kind and actor
 * with a GET form (the filter is in the URL; entries never hold secrets), 50 a page
 * (`?before=<seq>`).
 *
 * Admins see every entry. An operator sees only the entries that name it: those whose data
 * carries its `operator_omni` (`agent_purged`, `reencrypt_job_started` in `params`) and the
 * `reencrypt_job_finished`/`_abandoned` entries of its own jobs (the runner's recent ones).
 * Epoch, admin and chain entries concern the whole service: admins only.
 *
 * @module
 */

import type { VNode } from "preact";
import type { AuditEntry } from "../../lib/state/mod.ts";
import { App, shortAddress, type Viewer } from "./_app.tsx";
import type { PageDeps, Session } from "./_deps.ts";
import { formatTime } from "./_epochs_table.tsx";

export const AUDIT_PAGE = 50;

/** The kinds the service writes, for the filter's choices. */
export const AUDIT_KINDS = [
  "admin_claimed",
  "agent_purged",
  "blob_deleted",
  "blob_written",
  "chain_reconciled",
  "chain_record_failed",
  "epoch_destroy_forced",
  "epoch_destroy_refused",
  "epoch_destroyed",
  "epoch_destroyed_recorded",
  "epoch_rotated",
  "integrity_acknowledged",
  "integrity_mismatch",
  "integrity_rollback_detected",
  "legacy_deleted",
  "legacy_migrated",
  "lifecycle_destroy_deferred",
  "lifecycle_step",
  "reencrypt_job_abandoned",
  "reencrypt_job_finished",
  "reencrypt_job_started",
  "ttl_swept",
];

/**
 * One entry per blob write or delete (issue 11) outnumbers everything else by far: the default
 * view ("Any but blob writes") leaves them out; `kind=all` or their own kind shows them.
 */
const BLOB_KINDS = new Set(["blob_written", "blob_deleted"]);
const ALL_KINDS = "all";

export interface AuditData {
  viewer: Viewer;
  entries: AuditEntry[];
  filter: { kind: string; actor: string };
  /** Refused filter values, said on the page (the filter then ignores them). */
  invalid: string[];
  next: number | null;
}

/** Does `entry` concern `operatorOmni` (see the module doc)? */
export function concerns(entry: AuditEntry, operatorOmni: string, jobIds: Set<string>): boolean {
  const d = entry.data as Record<string, unknown> & { params?: { operator_omni?: unknown } };
  if (d.operator_omni === operatorOmni) return true;
  if (entry.kind === "reencrypt_job_started") return d.params?.operator_omni === operatorOmni;
  if (entry.kind === "reencrypt_job_finished" || entry.kind === "reencrypt_job_abandoned") {
    return typeof d.job_id === "string" && jobIds.has(d.job_id);
  }
  return false;
}

export async function load(
  deps: PageDeps,
  session: Session,
  query: Record<string, string>,
): Promise<AuditData> {
  const me = await deps.broker.me(session);
  const viewer = { address: session.address, isAdmin: me.is_admin };
  const invalid: string[] = [];
  let kind = (query.kind ?? "").trim();
  if (kind && kind !== ALL_KINDS && !AUDIT_KINDS.includes(kind)) {
    invalid.push("kind");
    kind = "";
  }
  let actor = (query.actor ?? "").trim().toLowerCase();
  if (actor && !/^0x[0-9a-f]{40}$/.test(actor)) {
    invalid.push("actor");
    actor = "";
  }
  const before = /^\d{1,15}$/.test(query.before ?? "") ? Number(query.before) : undefined;
  const filter = { kind, actor };
  if (!deps.audit) return { viewer, entries: [], filter, invalid, next: null };
  const jobIds = me.is_admin ? new Set<string>() : new Set(
    (await deps.epochs?.runner.list(50, session.operatorOmni) ?? []).map((j) => j.job_id),
  );
  const page = await deps.audit.page({
    before,
    limit: AUDIT_PAGE,
    keep: (e) =>
      (kind === ALL_KINDS || (kind ? e.kind === kind : !BLOB_KINDS.has(e.kind))) &&
      (!actor || String(e.data.by ?? "").toLowerCase() === actor) &&
      (me.is_admin || concerns(e, session.operatorOmni, jobIds)),
  });
  return { viewer, entries: page.entries, filter, invalid, next: page.next };
}

/** The entry's data as `name: value` pairs (nested values as JSON). */
function details(data: Record<string, unknown>): string {
  return Object.entries(data).filter(([k]) => k !== "by")
    .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ");
}

export default function AuditPage(data: AuditData): VNode {
  const { filter } = data;
  const more = new URLSearchParams();
  if (filter.kind) more.set("kind", filter.kind);
  if (filter.actor) more.set("actor", filter.actor);
  if (data.next !== null) more.set("before", String(data.next));
  return (
    <App title="Audit" viewer={data.viewer} current="/audit">
      <h1>Audit log</h1>
      <p>
        {data.viewer.isAdmin
          ? "Every entry of the service's hash-chained audit log, newest first."
          : "The entries about you and your jobs, newest first."}
      </p>
      <form method="get" action="/audit" class="card row" aria-label="Filter">
        <div class="field">
          <label for="kind">Kind</label>
          <select id="kind" name="kind">
            <option value="">Any but blob writes</option>
            <option value={ALL_KINDS} selected={filter.kind === ALL_KINDS}>
              Any, blob writes included
            </option>
            {AUDIT_KINDS.map((k) => (
              <option key={k} value={k} selected={k === filter.kind}>{k}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="actor">By (address)</label>
          <input
            id="actor"
            name="actor"
            value={filter.actor}
            placeholder="0x…"
            autocomplete="off"
            spellcheck={false}
            aria-invalid={data.invalid.includes("actor") ? "true" : undefined}
          />
        </div>
        <div class="actions">
          <button type="submit">Filter</button>
        </div>
      </form>
      {data.invalid.length > 0 && (
        <p class="notice error" role="alert">
          Ignored: {data.invalid.join(" and ")} (not a known kind or an address).
        </p>
      )}
      <section class="card" aria-labelledby="audit-title">
        <h2 id="audit-title">Entries</h2>
        {data.entries.length === 0 ? <p>No entry matches.</p> : (
          <table class="audit">
            <caption class="visually-hidden">Audit entries, newest first</caption>
            <thead>
              <tr>
                <th scope="col" class="num">#</th>
                <th scope="col">When</th>
                <th scope="col">Kind</th>
                <th scope="col">By</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {data.entries.map((e) => (
                <tr key={e.seq} data-kind={e.kind}>
                  <td class="num">{e.seq}</td>
                  <td class="nowrap">
                    <time datetime={e.at}>{formatTime(e.at)}</time>
                  </td>
                  <td>
                    <code>{e.kind}</code>
                  </td>
                  <td class="nowrap">
                    {typeof e.data.by === "string"
                      ? <code title={e.data.by}>{shortAddress(e.data.by)}</code>
                      : "—"}
                  </td>
                  <td class="details">{details(e.data)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {data.next !== null && (
          <p>
            <a href={`/audit?${more}`} rel="next">Older entries</a>
          </p>
        )}
      </section>
    </App>
  );
}
