/**
 * The fifth review's scenario, smaller: `deno task reencrypt` headless beside a service-like load
 * process on one data directory (tests/support/kv_contention.ts). Before lib/state retried
 * SQLite's busy error, blobs failed with `internal_error` and the load's KV writes threw
 * `database is locked` (300 blobs: 181 failed, 152 load errors); now none may.
 */

import { assert, assertEquals } from "../support/assert.ts";
import { runContention } from "../support/kv_contention.ts";
import { ROOT } from "../support/service_process.ts";

Deno.test("two processes on one data directory: the re-encryption job and a service-like load both finish without a busy error", async () => {
  const f = await runContention({ root: ROOT, blobs: 300, concurrency: 8, clients: 4 });
  assertEquals(
    [f.jobExit, f.reencrypted, f.failed, f.reasons],
    [0, 300, 0, {}],
    f.jobStderr.slice(-500),
  );
  assertEquals(f.load.errors, {});
  assert(f.load.ops > 300, `the load ran beside the job (${f.load.ops} operations)`);
});
