/**
 * Epoch tag wrap-around (review finding, issue 7): byte 0 of a blob is `epoch mod 256`. A blob
 * left under destroyed epoch e answers `epoch_destroyed` (410), not `envelope_corrupt`, once
 * epoch e+256 reuses the tag; and rotating to e+256 is refused while the latest global census
 * (taken after e was destroyed) still counts blobs with that tag, or no such census exists.
 */

import { assertEquals, assertRejects, assertThrows } from "../support/assert.ts";
import { join } from "node:path";
import { EpochKeystore } from "../../lib/signer/mod.ts";
import { EnvelopeEpochDestroyed, envelopeEpochTag } from "../../lib/crypto/mod.ts";
import { credentialLocation, openBlob, sealBlob } from "../../lib/worker/mod.ts";
import { FsBlobStore } from "../../lib/store/mod.ts";
import {
  KvAuditLog,
  KvCensusStore,
  KvChainPending,
  KvStateStore,
  KvWriteLedger,
} from "../../lib/state/mod.ts";
import { EpochAdmin, EpochTagInUse } from "../../lib/epochs/mod.ts";
import { checkTagFree } from "../../lib/epochs/_guard.ts";
import { Hono } from "hono";
import { errorResponse } from "../../routes/errors.ts";
import { tempDir } from "../support/tmp.ts";

const ACTOR = "ef".repeat(32);

Deno.test("a blob of destroyed epoch 1 answers epoch_destroyed after epoch 257 reuses its tag; the rotation needs a clean census", async () => {
  await using dir = await tempDir();
  // Fast clock steps keep every timestamp distinct and ordered without waiting.
  let clock = Date.parse("2025-01-01T00:00:00Z");
  const now = () => new Date(clock += 1000);
  const keystore = await EpochKeystore.open({
    path: join(dir.path, "signer/keystore.json"),
    sealKey: crypto.getRandomValues(new Uint8Array(32)),
    now,
  });
  const store = new FsBlobStore(join(dir.path, "blobs"));
  const state = await KvStateStore.open(join(dir.path, "state.kv"));
  try {
    const censusStore = new KvCensusStore(state.kv);
    const admin = new EpochAdmin({
      keystore,
      store,
      censusStore,
      ledger: new KvWriteLedger(state.kv),
      audit: new KvAuditLog(state.kv),
      pending: new KvChainPending(state.kv),
      now,
    });
    const loc = credentialLocation(ACTOR, "openai");
    const left = sealBlob(keystore, loc, new TextEncoder().encode("old secret")).blob;
    assertEquals(envelopeEpochTag(left), 1);
    await store.put(loc.key, left);

    // Epochs 2..256, each destroying the previous one (forced: the blob stays behind on purpose).
    for (let e = 1; e < 256; e++) {
      await keystore.rotate();
      await keystore.destroy(e);
    }
    assertEquals(keystore.activeEpoch, 256);
    assertEquals(keystore.stateOf(1), "destroyed");
    assertThrows(() => openBlob(keystore, loc, left), EnvelopeEpochDestroyed);

    // No census since epoch 1 was destroyed: refused, nothing changes.
    const noCensus = await assertRejects(() => admin.rotate(), EpochTagInUse) as EpochTagInUse;
    assertEquals([noCensus.reason, noCensus.destroyedEpoch, noCensus.code], [
      "no_census",
      1,
      "epoch_tag_in_use",
    ]);
    assertEquals(keystore.activeEpoch, 256);

    // A census that still finds the leftover blob under the destroyed tag: refused with the count.
    const census = await admin.census();
    assertEquals(census.global?.destroyed, 1);
    assertEquals(census.destroyed_tags, { "1": 1 });
    const remain = await assertRejects(() => admin.rotate(), EpochTagInUse) as EpochTagInUse;
    assertEquals([remain.reason, remain.count], ["blobs_remain", 1]);
    assertEquals(keystore.activeEpoch, 256);

    // Once the blob is gone and a census shows it, the tag may be reused. A copy of the old
    // blob (restored from a backup) is then mapped to epoch 257 and fails authentication there:
    // that must read as destroyed, not as corrupt.
    await store.delete(loc.key);
    await admin.census();
    const r = await admin.rotate();
    assertEquals(r.active, 257);
    assertEquals(keystore.epochForTag(1), 257);
    const err = assertThrows(
      () => openBlob(keystore, loc, left),
      EnvelopeEpochDestroyed,
    ) as EnvelopeEpochDestroyed;
    assertEquals(err.epoch, 1);
    // A blob of the live epoch 257 itself still opens.
    const fresh = sealBlob(keystore, loc, new TextEncoder().encode("new secret")).blob;
    assertEquals(new TextDecoder().decode(openBlob(keystore, loc, fresh).plaintext), "new secret");
  } finally {
    state.close();
    await store.close();
  }
});

Deno.test("checkTagFree: refuses without a census, with one from before the destruction, and with blobs left", () => {
  const destroyed = {
    epoch: 3,
    state: "destroyed" as const,
    createdAt: "2025-01-01T00:00:00.000Z",
    destroyedAt: "2025-01-02T00:00:00.000Z",
  };
  const census = (takenAt: string, tags?: Record<string, number>) => ({
    taken_at: takenAt,
    finished_at: takenAt,
    scope: "global" as const,
    global: {},
    ...(tags ? { destroyed_tags: tags } : {}),
  });
  assertEquals(checkTagFree(259, destroyed, null)?.reason, "no_census");
  assertEquals(
    checkTagFree(259, destroyed, census("2025-01-03T00:00:00.000Z"))?.reason,
    "no_census",
    "a census without per-tag counts cannot tell",
  );
  assertEquals(
    checkTagFree(259, destroyed, census("2025-01-01T12:00:00.000Z", {}))?.reason,
    "census_before_destroy",
  );
  assertEquals(
    checkTagFree(259, destroyed, census("2025-01-03T00:00:00.000Z", { "3": 2 }))?.count,
    2,
  );
  assertEquals(
    checkTagFree(259, destroyed, census("2025-01-03T00:00:00.000Z", { "4": 2 })),
    undefined,
  );
});

Deno.test("a refused rotation answers 409 epoch_tag_in_use with the destroyed epoch and the count", async () => {
  const app = new Hono();
  app.onError((err, c) => errorResponse(c, err));
  app.post("/rotate", () => {
    throw new EpochTagInUse(257, 1, "blobs_remain", 3, "2025-01-03T00:00:00.000Z");
  });
  const r = await app.request("/rotate", { method: "POST" });
  assertEquals(r.status, 409);
  const body = await r.json();
  assertEquals(
    [body.error, body.epoch, body.destroyed_epoch, body.reason, body.count, body.census_taken_at],
    ["epoch_tag_in_use", 257, 1, "blobs_remain", 3, "2025-01-03T00:00:00.000Z"],
  );
  assertEquals(typeof body.message, "string");
});
