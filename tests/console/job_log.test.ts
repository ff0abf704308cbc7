/**
 * The job page's pure helpers: the bounded window of rows (a 100,000-blob job must not grow the
 * page without bound, and no failure or conflict may scroll away), the time left, and the rows
 * and counts of both job kinds (re-encryption, migration).
 */

import { assertEquals } from "../support/assert.ts";
import {
  countRows,
  eta,
  type JobCountsView,
  keepWindow,
  KINDS,
  type LogRow,
  toRow,
} from "../../islands/JobLog.tsx";

const row = (id: number, outcome = "reencrypted"): LogRow => ({
  id,
  key: `bots/x/credentials/s${id}.enc`,
  outcome,
  from_epoch: 1,
  ms: 1,
});

Deno.test("keepWindow: the newest rows up to the window, in order, and every failure", () => {
  const rows = Array.from({ length: 8 }, (_, i) => row(i + 1, i === 1 ? "failed" : "reencrypted"));
  const kept = keepWindow(rows.slice(0, 5), rows.slice(5), 3);
  // Failure 2 stays although it is old; of the others only the 3 newest.
  assertEquals(kept.map((r) => r.id), [2, 6, 7, 8]);
  // Under the window nothing is dropped.
  assertEquals(keepWindow(rows.slice(0, 2), rows.slice(2, 3), 3).map((r) => r.id), [1, 2, 3]);
  // Failures alone never count against the window.
  const failures = Array.from({ length: 5 }, (_, i) => row(i + 1, "failed"));
  assertEquals(keepWindow(failures, [row(6)], 1).map((r) => r.id), [1, 2, 3, 4, 5, 6]);
});

Deno.test("eta: seconds or minutes left from the rate; nothing when the rate or the work is unknown", () => {
  const counts = (listed: number, done: number): JobCountsView => ({
    listed,
    done,
    reencrypted: done,
    would_reencrypt: 0,
    skipped: 0,
    other_epoch: 0,
    failed: 0,
  });
  assertEquals(eta(counts(303, 75), 91), "3 s");
  assertEquals(eta(counts(10_000, 100), 90), "1 min 50 s");
  assertEquals(eta(counts(10, 10), 50), null, "done");
  assertEquals(eta(counts(0, 5), 50), null, "still listing: done ahead of listed");
  assertEquals(eta(counts(100, 1), null), null);
  assertEquals(eta(counts(100, 1), 0), null);
});

Deno.test("keepWindow keeps every conflict too (a migration's conflicts need the operator)", () => {
  const rows = [row(1, "conflict"), row(2, "migrated"), row(3, "migrated"), row(4, "migrated")];
  assertEquals(keepWindow([], rows, 1).map((r) => r.id), [1, 4]);
});

Deno.test("toRow and countRows: each kind's fields and counts, a migration's deletions counted", () => {
  assertEquals(
    toRow(7, { key: "k", outcome: "reencrypted", from_epoch: 1, ms: 3, reason: "" }),
    { id: 7, key: "k", outcome: "reencrypted", from_epoch: 1, ms: 3 },
  );
  const migrated = toRow(8, {
    key: "bots/0xab/credentials/s.enc",
    wallet: "0xab",
    service: "s",
    actor_omni: "0xcd",
    outcome: "migrated",
    deleted: true,
  });
  assertEquals(migrated, {
    id: 8,
    key: "bots/0xab/credentials/s.enc",
    outcome: "migrated",
    wallet: "0xab",
    actor_omni: "0xcd",
    deleted: true,
  });
  const failed = toRow(9, { key: "x", outcome: "failed", reason: "legacy_auth_failed: …" });
  assertEquals(failed.reason, "legacy_auth_failed: …");
  assertEquals(countRows("migrate", [migrated, failed, { ...migrated, id: 10, deleted: false }]), {
    done: 3,
    migrated: 2,
    would_migrate: 0,
    skipped: 0,
    conflict: 0,
    failed: 1,
    deleted: 1,
  });
  assertEquals(countRows("reencrypt", [row(1), row(2, "other-epoch")]), {
    done: 2,
    reencrypted: 1,
    would_reencrypt: 0,
    skipped: 0,
    other_epoch: 1,
    failed: 0,
  });
  assertEquals(KINDS.migrate.map((o) => o.outcome), [
    "migrated",
    "would-migrate",
    "skipped",
    "conflict",
    "failed",
  ]);
});

Deno.test("eta: nothing without a total (a migration sends none)", () => {
  assertEquals(eta({ done: 5 }, 10), null);
});
