/**
 * Inbound on Ceph RGW (issue 13): put (generated and given ids), paged list, get with lazy
 * re-encryption after a rotation, teardown of one and of all, actor isolation, and the refusals
 * that depend on the store (not_found, envelope_corrupt, epoch_destroyed, store_unavailable),
 * against the S3 store.
 */

import { assert, assertEquals } from "../support/assert.ts";
import { S3BlobStore } from "../../lib/store/mod.ts";
import type { CapGrant } from "../../lib/cap/_claims.ts";
import { ACTOR, OTHER_ACTOR } from "../support/caps.ts";
import { startCeph } from "../support/ceph.ts";
import { b64, testVault } from "../support/harness.ts";

const ACTOR_HEX = ACTOR.slice(2);

const inbound = (op: "store" | "fetch" | "teardown", extra: Partial<CapGrant> = {}) => ({
  op,
  data_class: "inbound" as const,
  service: undefined,
  minted_by: "operator" as const,
  ...extra,
});

Deno.test("inbound on Ceph RGW: every route, lazy re-encryption, isolation", async () => {
  const ceph = await startCeph();
  try {
    await using v = await testVault({
      store: () =>
        new S3BlobStore({
          endpoint: ceph.endpoint,
          region: ceph.region,
          bucket: `inbox-${crypto.randomUUID().slice(0, 8)}`,
          forcePathStyle: true,
          credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
        }),
    });
    await (v.store as S3BlobStore).ensureBucket();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await v.post("/v1/inbound/put", await v.cap(inbound("store")), {
        plaintext_b64: b64(`m${i}`),
      });
      assertEquals(r.status, 200, JSON.stringify(r.body));
      ids.push(r.body.message_id as string);
    }
    const given = await v.post("/v1/inbound/put", await v.cap(inbound("store")), {
      message_id: "zz-given",
      plaintext_b64: b64("given"),
    });
    assertEquals(given.body.message_id, "zz-given");
    const cap = await v.cap(inbound("fetch"));
    const p1 = await v.post("/v1/inbound/list", cap, { limit: 4 });
    const p2 = await v.post("/v1/inbound/list", cap, { limit: 4, cursor: p1.body.next_cursor });
    const listed = [
      ...p1.body.items as { message_id: string }[],
      ...p2.body.items as { message_id: string }[],
    ]
      .map((i) => i.message_id);
    assertEquals(listed, [...ids, "zz-given"]);
    assertEquals(p2.body.next_cursor, null);
    await v.keystore.rotate();
    const got = await v.post("/v1/inbound/get", cap, { message_id: ids[2] });
    assertEquals(got.body, { plaintext_b64: b64("m2"), epoch: 2, rewrapped: true });
    const other = await v.post(
      "/v1/inbound/list",
      await v.cap(inbound("fetch", { actor_omni: OTHER_ACTOR })),
      {},
    );
    assertEquals(other.body.items, []);
    const one = await v.post("/v1/inbound/teardown", await v.cap(inbound("teardown")), {
      message_id: ids[0],
    });
    assertEquals(one.body, { deleted: 1 });
    const all = await v.post("/v1/inbound/teardown", await v.cap(inbound("teardown")), {});
    assertEquals(all.body, { deleted: 5 });
    const empty = await v.post("/v1/inbound/list", cap, {});
    assert(Array.isArray(empty.body.items) && empty.body.items.length === 0);

    // The refusals that depend on the store, with RGW's answers: a missing message, a tampered
    // object, a destroyed epoch, and RGW gone.
    const missing = await v.post("/v1/inbound/get", cap, { message_id: "never-written" });
    assertEquals([missing.status, missing.body.error], [404, "not_found"]);
    await v.post("/v1/inbound/put", await v.cap(inbound("store")), {
      message_id: "m",
      plaintext_b64: b64("payload"),
    });
    const key = `bots/${ACTOR_HEX}/inbound/m.enc`;
    const blob = (await v.store.get(key))!.body;
    const tampered = blob.slice();
    tampered[20] ^= 1;
    await v.store.put(key, tampered);
    const corrupt = await v.post("/v1/inbound/get", cap, { message_id: "m" });
    assertEquals([corrupt.status, corrupt.body.error], [500, "envelope_corrupt"]);
    await v.store.put(key, blob);
    await v.keystore.rotate(); // epoch 3 active; m is under 2
    await v.keystore.destroy(2);
    const dead = await v.post("/v1/inbound/get", cap, { message_id: "m" });
    assertEquals([dead.status, dead.body.error], [410, "epoch_destroyed"]);
    await ceph.stop();
    const down = await v.post("/v1/inbound/list", cap, {});
    assertEquals([down.status, down.body.error], [503, "store_unavailable"]);
  } finally {
    await ceph.stop();
  }
});
