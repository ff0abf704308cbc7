/**
 * The job page's pure helpers: the bounded window of rows (a 100,000-blob job must not grow the
 * page without bound, and no failure may scroll away) and the time left.
 */

import { assertEquals } from "../support/assert.ts";
import { eta, type JobCountsView, keepWindow, type LogRow } from "../../islands/JobLog.tsx";

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
