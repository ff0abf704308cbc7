/**
 * Sixth review (issue 11): the census and the re-encryption engine judge a blob's epoch from its
 * first byte alone (a 1-byte range read, which the integrity wrapper passed through unchecked). A
 * storage operator who rewrites that byte of a retiring epoch's blob to the active epoch's tag (or
 * an S3 endpoint that answers range reads with other bytes than whole reads) made the census count
 * the retiring epoch empty and the service destroy a key the blob still needs: putting the right
 * bytes back no longer helps. A range read from byte 0 is now compared with the epoch tag the
 * pointer recorded.
 *
 * @module
 */

import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { openTestService } from "./_service.ts";
import { memoryLocation, openBlob, sealBlob } from "../../lib/worker/mod.ts";
import { IntegrityMismatch } from "../../lib/integrity/mod.ts";
import { tempDir } from "../support/tmp.ts";
import type { JobEvent } from "../../lib/state/mod.ts";

const ACTOR = "cd".repeat(32);

Deno.test("range review: a first byte rewritten to the active epoch's tag does not let the census empty the retiring epoch", async () => {
  await using dir = await tempDir("agentkeys-integrity-range-");
  const s = await openTestService(dir.path);
  try {
    const loc = memoryLocation(ACTOR, "notes", "n1");
    await s.store.put(loc.key, sealBlob(s.keystore, loc, new TextEncoder().encode("kept")).blob);
    await s.admin.rotate();
    assertEquals(s.keystore.activeEpoch, 2);
    const path = join(dir.path, "blobs", loc.key);
    const original = await Deno.readFile(path);
    const tampered = original.slice();
    tampered[0] = 2; // "already re-encrypted" by its first byte
    await Deno.writeFile(path, tampered);
    await assertRejects(() => s.store.getRange(loc.key, 0, 0), IntegrityMismatch);
    // The eager job does not take it for a blob already re-encrypted: failed, left as it is.
    const job = await s.runner.start({ operator_omni: `0x${ACTOR}`, old_epoch: 1, new_epoch: 2 });
    const final = await s.runner.wait(job.job_id);
    assertEquals(final.counts.failed, 1, JSON.stringify(final.counts));
    const events: JobEvent[] = await Array.fromAsync(s.runner.events(job.job_id));
    const failed = events.find((e) => e.event === "blob" && e.data.outcome === "failed");
    assert(failed?.event === "blob" && failed.data.reason?.startsWith("integrity_mismatch:"));
    assertEquals(await Deno.readFile(path), tampered);
    await assertRejects(() => s.admin.census(), IntegrityMismatch);
    await assertRejects(() => s.admin.destroy(1));
    // The operator's bytes back: the blob still opens, its epoch was never destroyed.
    await Deno.writeFile(path, original);
    assertEquals((await s.store.getRange(loc.key, 0, 0))?.body[0], 1);
    const stored = (await s.store.get(loc.key))!;
    assertEquals(
      new TextDecoder().decode(openBlob(s.keystore, loc, stored.body).plaintext),
      "kept",
    );
    const census = await s.admin.census();
    assert((census.global?.["1"] ?? 0) === 1, JSON.stringify(census.global));
  } finally {
    await s.close();
  }
});
