/**
 * The inbound data class over HTTP (issue 13): every route, every refusal code with its status,
 * time-ordered ids, paging, lazy re-encryption, and that one actor's cap never reaches another
 * actor's inbox.
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { join } from "node:path";
import { FsBlobStore } from "../../lib/store/mod.ts";
import { StoreUnavailable } from "../../lib/store/_errors.ts";
import { WorkerError } from "../../lib/worker/mod.ts";
import type { CapGrant } from "../../lib/cap/_claims.ts";
import { ACTOR, OTHER_ACTOR } from "../support/caps.ts";
import { FaultyStore } from "../support/faulty_store.ts";
import { b64, LIMITS, testVault } from "../support/harness.ts";

const ACTOR_HEX = ACTOR.slice(2);
type Op = "store" | "fetch" | "teardown";
const inbound = (op: Op, extra: Partial<CapGrant> = {}): Partial<CapGrant> => ({
  op,
  data_class: "inbound",
  service: undefined,
  minted_by: "operator",
  ...extra,
});

Deno.test("inbound: put with a generated id, get, and the blob is an envelope at the layout's key", async () => {
  await using v = await testVault();
  const put = await v.post("/v1/inbound/put", await v.cap(inbound("store")), {
    plaintext_b64: b64("hello agent"),
  });
  assertEquals(put.status, 200);
  const id = put.body.message_id as string;
  assertMatch(id, /^[0-9a-f]{12}-[0-9a-f]{16}$/);
  assertEquals([put.body.epoch, put.body.size], [1, 11]);
  const blob = await v.store.get(`bots/${ACTOR_HEX}/inbound/${id}.enc`);
  assert(blob !== null);
  assertEquals(blob.body[0], 1);
  const got = await v.post("/v1/inbound/get", await v.cap(inbound("fetch")), { message_id: id });
  assertEquals(got.body, { plaintext_b64: b64("hello agent"), epoch: 1, rewrapped: false });
});

Deno.test("inbound: generated ids are time-ordered; list pages oldest first with next_cursor", async () => {
  await using v = await testVault();
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) {
    const r = await v.post("/v1/inbound/put", await v.cap(inbound("store")), {
      plaintext_b64: b64(`m${i}`),
    });
    ids.push(r.body.message_id as string);
  }
  assertEquals([...ids].sort(), ids, "ids sort in the order they were generated");
  const listCap = await v.cap(inbound("fetch"));
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const body: Record<string, unknown> = { limit: 3, ...(cursor ? { cursor } : {}) };
    const page = await v.post("/v1/inbound/list", listCap, body);
    assertEquals(page.status, 200);
    const items = page.body.items as { message_id: string; epoch: number; size: number }[];
    assert(items.length <= 3);
    for (const item of items) {
      assertEquals([item.epoch, item.size], [1, 2]);
      seen.push(item.message_id);
    }
    cursor = page.body.next_cursor as string | null;
    pages++;
  } while (cursor !== null);
  assertEquals(seen, ids);
  assertEquals(pages, 3);
  // An empty body lists with the defaults.
  const all = await v.app.request("/v1/inbound/list", {
    method: "POST",
    headers: { authorization: `Bearer ${listCap}` },
  });
  assertEquals(((await all.json()).items as unknown[]).length, 7);
});

Deno.test("inbound: a given message_id is used (and replaced by intent); teardown of one and of all", async () => {
  await using v = await testVault();
  for (const [id, text] of [["mail-1", "a"], ["mail-2", "b"], ["mail-1", "c"]]) {
    const r = await v.post("/v1/inbound/put", await v.cap(inbound("store")), {
      message_id: id,
      plaintext_b64: b64(text),
    });
    assertEquals([r.status, r.body.message_id], [200, id]);
  }
  const got = await v.post("/v1/inbound/get", await v.cap(inbound("fetch")), {
    message_id: "mail-1",
  });
  assertEquals(got.body.plaintext_b64, b64("c"));
  const one = await v.post("/v1/inbound/teardown", await v.cap(inbound("teardown")), {
    message_id: "mail-1",
  });
  assertEquals(one.body, { deleted: 1 });
  const again = await v.post("/v1/inbound/teardown", await v.cap(inbound("teardown")), {
    message_id: "mail-1",
  });
  assertEquals(again.body, { deleted: 0 });
  await v.post("/v1/inbound/put", await v.cap(inbound("store")), { plaintext_b64: b64("x") });
  const all = await v.post("/v1/inbound/teardown", await v.cap(inbound("teardown")), {});
  assertEquals(all.body, { deleted: 2 });
  const gone = await v.post("/v1/inbound/get", await v.cap(inbound("fetch")), {
    message_id: "mail-2",
  });
  assertEquals([gone.status, gone.body.error], [404, "not_found"]);
});

Deno.test("inbound: lazy re-encryption after a rotation, like memory", async () => {
  await using v = await testVault();
  await v.post("/v1/inbound/put", await v.cap(inbound("store")), {
    message_id: "m",
    plaintext_b64: b64("old"),
  });
  await v.keystore.rotate();
  const cap = await v.cap(inbound("fetch"));
  const first = await v.post("/v1/inbound/get", cap, { message_id: "m" });
  assertEquals(first.body, { plaintext_b64: b64("old"), epoch: 2, rewrapped: true });
  assertEquals((await v.store.get(`bots/${ACTOR_HEX}/inbound/m.enc`))!.body[0], 2);
  const list = await v.post("/v1/inbound/list", cap, {});
  assertEquals((list.body.items as { epoch: number }[])[0].epoch, 2);
});

Deno.test("inbound: one actor's cap never reaches another actor's inbox", async () => {
  await using v = await testVault();
  const forB = await v.post(
    "/v1/inbound/put",
    await v.cap(inbound("store", { actor_omni: OTHER_ACTOR })),
    { message_id: "secret", plaintext_b64: b64("for B only") },
  );
  assertEquals(forB.status, 200);
  const aCap = await v.cap(inbound("fetch"));
  const read = await v.post("/v1/inbound/get", aCap, { message_id: "secret" });
  assertEquals([read.status, read.body.error], [404, "not_found"]);
  const list = await v.post("/v1/inbound/list", aCap, {});
  assertEquals(list.body.items, []);
  const rm = await v.post("/v1/inbound/teardown", await v.cap(inbound("teardown")), {});
  assertEquals(rm.body, { deleted: 0 });
  // B's blob moved under A's key does not decrypt for A either (the AAD binds the actor).
  const b = await v.store.get(`bots/${OTHER_ACTOR.slice(2)}/inbound/secret.enc`);
  await v.store.put(`bots/${ACTOR_HEX}/inbound/secret.enc`, b!.body);
  const moved = await v.post("/v1/inbound/get", aCap, { message_id: "secret" });
  assertEquals([moved.status, moved.body.error], [500, "envelope_corrupt"]);
});

Deno.test("inbound refusals: cap_invalid, cap_expired, cap_replayed (401)", async () => {
  await using v = await testVault();
  for (const path of ["put", "get", "list", "teardown"]) {
    const none = await v.post(`/v1/inbound/${path}`, undefined, {});
    assertEquals([none.status, none.body.error], [401, "cap_invalid"], path);
    const junk = await v.post(`/v1/inbound/${path}`, "not.a.cap", {});
    assertEquals([junk.status, junk.body.error], [401, "cap_invalid"], path);
  }
  const old = new Date(Date.now() - 10 * 60_000);
  const expired = await v.caps.mint(inbound("fetch"), { now: old });
  const e = await v.post("/v1/inbound/get", expired, { message_id: "m" });
  assertEquals([e.status, e.body.error], [401, "cap_expired"]);
  const put = await v.cap(inbound("store"));
  assertEquals((await v.post("/v1/inbound/put", put, { plaintext_b64: b64("1") })).status, 200);
  const replay = await v.post("/v1/inbound/put", put, { plaintext_b64: b64("2") });
  assertEquals([replay.status, replay.body.error], [401, "cap_replayed"]);
  const rm = await v.cap(inbound("teardown"));
  assertEquals((await v.post("/v1/inbound/teardown", rm, {})).status, 200);
  const rmAgain = await v.post("/v1/inbound/teardown", rm, {});
  assertEquals([rmAgain.status, rmAgain.body.error], [401, "cap_replayed"]);
});

Deno.test("inbound refusals: wrong_op, wrong_data_class, out_of_scope, read_only (403)", async () => {
  await using v = await testVault({
    authority: {
      recheck(claims) {
        if (claims.actor_omni === OTHER_ACTOR) {
          return Promise.reject(new WorkerError("out_of_scope", "revoked"));
        }
        return Promise.resolve();
      },
    },
  });
  const wrongOp = await v.post("/v1/inbound/put", await v.cap(inbound("fetch")), {
    plaintext_b64: b64("x"),
  });
  assertEquals([wrongOp.status, wrongOp.body.error], [403, "wrong_op"]);
  const listWithPut = await v.post("/v1/inbound/list", await v.cap(inbound("store")), {});
  assertEquals([listWithPut.status, listWithPut.body.error], [403, "wrong_op"]);
  const memCap = await v.cap({ op: "fetch", data_class: "memory", namespace: "notes" });
  const wrongClass = await v.post("/v1/inbound/get", memCap, { message_id: "m" });
  assertEquals([wrongClass.status, wrongClass.body.error], [403, "wrong_data_class"]);
  const credCap = await v.cap({ op: "fetch" });
  const credList = await v.post("/v1/inbound/list", credCap, {});
  assertEquals([credList.status, credList.body.error], [403, "wrong_data_class"]);
  const revoked = await v.post(
    "/v1/inbound/get",
    await v.cap(inbound("fetch", { actor_omni: OTHER_ACTOR })),
    { message_id: "m" },
  );
  assertEquals([revoked.status, revoked.body.error], [403, "out_of_scope"]);
  const ro = await v.post("/v1/inbound/put", await v.cap(inbound("store", { read_only: true })), {
    plaintext_b64: b64("x"),
  });
  assertEquals([ro.status, ro.body.error], [403, "read_only"]);
});

Deno.test("inbound refusals: too_large (413), bad_request (400), envelope_corrupt (500), epoch_destroyed (410)", async () => {
  await using v = await testVault();
  const big = new Uint8Array(LIMITS.inbound + 1).toBase64();
  const tooBig = await v.post("/v1/inbound/put", await v.cap(inbound("store")), {
    plaintext_b64: big,
  });
  assertEquals([tooBig.status, tooBig.body.error], [413, "too_large"]);
  const huge = await v.post("/v1/inbound/put", await v.cap(inbound("store")), {
    plaintext_b64: new Uint8Array(LIMITS.inbound * 2).toBase64(),
  });
  assertEquals([huge.status, huge.body.error], [413, "too_large"]);
  for (
    const [path, body] of [
      ["put", { plaintext_b64: b64("x"), message_id: "../escape" }],
      ["put", { plaintext_b64: b64("x"), message_id: "UPPER" }],
      ["put", { plaintext_b64: "%%%" }],
      ["get", {}],
      ["get", { message_id: 7 }],
      ["list", { limit: 0 }],
      ["list", { limit: 501 }],
      ["list", { cursor: "a/b" }],
      ["teardown", { message_id: "a/b" }],
    ] as const
  ) {
    const op: Op = path === "put" ? "store" : path === "teardown" ? "teardown" : "fetch";
    const r = await v.post(`/v1/inbound/${path}`, await v.cap(inbound(op)), body);
    assertEquals([r.status, r.body.error], [400, "bad_request"], `${path} ${JSON.stringify(body)}`);
  }
  const notJson = await v.post("/v1/inbound/put", await v.cap(inbound("store")), "{nope");
  assertEquals([notJson.status, notJson.body.error], [400, "bad_request"]);

  await v.post("/v1/inbound/put", await v.cap(inbound("store")), {
    message_id: "m",
    plaintext_b64: b64("payload"),
  });
  const key = `bots/${ACTOR_HEX}/inbound/m.enc`;
  const blob = (await v.store.get(key))!.body;
  const tampered = blob.slice();
  tampered[20] ^= 1;
  await v.store.put(key, tampered);
  const corrupt = await v.post("/v1/inbound/get", await v.cap(inbound("fetch")), {
    message_id: "m",
  });
  assertEquals([corrupt.status, corrupt.body.error], [500, "envelope_corrupt"]);
  assert(!JSON.stringify(corrupt.body).includes(ACTOR_HEX), "no object key in the answer");

  await v.store.put(key, blob);
  await v.keystore.rotate();
  await v.keystore.destroy(1);
  const dead = await v.post("/v1/inbound/get", await v.cap(inbound("fetch")), {
    message_id: "m",
  });
  assertEquals([dead.status, dead.body.error], [410, "epoch_destroyed"]);
});

Deno.test("inbound refusals: store_unavailable (503) on every route", async () => {
  await using v = await testVault({
    store: (dir) => new FaultyStore(new FsBlobStore(join(dir, "blobs"))),
  });
  const faulty = v.store as FaultyStore;
  faulty.faults.fail = () => new StoreUnavailable("EIO /secret/path");
  for (
    const [path, op, body] of [
      ["put", "store", { plaintext_b64: b64("x") }],
      ["get", "fetch", { message_id: "m" }],
      ["list", "fetch", {}],
      ["teardown", "teardown", {}],
    ] as const
  ) {
    const r = await v.post(`/v1/inbound/${path}`, await v.cap(inbound(op)), body);
    assertEquals([r.status, r.body.error], [503, "store_unavailable"], path);
    assert(!JSON.stringify(r.body).includes("/secret/path"));
  }
});
