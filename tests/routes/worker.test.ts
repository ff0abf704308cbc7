/**
 * The worker's HTTP contract (API.md "Worker"): happy paths, lazy re-encryption, and every
 * refusal code with its status.
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { join } from "node:path";
import { openEnvelope } from "../../lib/crypto/mod.ts";
import { FsBlobStore } from "../../lib/store/mod.ts";
import { StoreUnavailable } from "../../lib/store/_errors.ts";
import { WorkerError } from "../../lib/worker/mod.ts";
import { ACTOR, OTHER_ACTOR } from "../support/caps.ts";
import { FaultyStore } from "../support/faulty_store.ts";
import { b64, testVault } from "../support/harness.ts";

const ACTOR_HEX = ACTOR.slice(2);
const KEY = `bots/${ACTOR_HEX}/credentials/openai.enc`;
const fetchGrant = { op: "fetch" } as const;

Deno.test("store writes an envelope v2 under the active epoch; fetch returns the plaintext", async () => {
  await using v = await testVault();
  const stored = await v.post("/v1/cred/store", await v.cap(), {
    plaintext_b64: b64("sk-live-123"),
  });
  assertEquals(stored.status, 200);
  assertEquals(stored.body.key, KEY);
  assertEquals(stored.body.epoch, 1);
  assertEquals(stored.body.size, 11);
  const blob = (await v.store.get(KEY))!;
  assertEquals(stored.body.etag, blob.etag);
  assertEquals(blob.body[0], 1);
  assertEquals(blob.body.length, 11 + 29);
  const ctx = { dataClass: "credentials", actorHex: ACTOR_HEX, objectName: "openai" } as const;
  const plain = openEnvelope(v.keystore.kek(1, "credentials", ACTOR_HEX), 1, ctx, blob.body);
  assertEquals(new TextDecoder().decode(plain), "sk-live-123");

  const fetched = await v.post("/v1/cred/fetch", await v.cap(fetchGrant));
  assertEquals(fetched.status, 200);
  assertEquals(fetched.body, { plaintext_b64: b64("sk-live-123"), epoch: 1, rewrapped: false });
});

Deno.test("after rotate, fetch returns the same plaintext with rewrapped:true and the blob moves", async () => {
  await using v = await testVault();
  await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("secret") });
  await v.keystore.rotate();
  const fetchCap = await v.cap(fetchGrant);
  const first = await v.post("/v1/cred/fetch", fetchCap);
  assertEquals(first.body, { plaintext_b64: b64("secret"), epoch: 2, rewrapped: true });
  assertEquals((await v.store.get(KEY))!.body[0], 2);
  const second = await v.post("/v1/cred/fetch", fetchCap); // fetch caps are reusable
  assertEquals(second.body, { plaintext_b64: b64("secret"), epoch: 2, rewrapped: false });
  const stored = await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("new") });
  assertEquals(stored.body.epoch, 2);
});

Deno.test("lazy re-encryption never overwrites a newer write (lost race is not an error)", async () => {
  await using v = await testVault({
    store: (dir) => new FaultyStore(new FsBlobStore(join(dir, "blobs"))),
  });
  await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("old") });
  await v.keystore.rotate();
  const faulty = v.store as FaultyStore;
  let raced = false;
  faulty.faults.beforePut = async (_key, conditions) => {
    if (conditions?.ifMatch && !raced) {
      raced = true; // a concurrent store lands between the worker's read and its CAS
      const r = await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("newer") });
      assertEquals(r.status, 200);
    }
  };
  const fetched = await v.post("/v1/cred/fetch", await v.cap(fetchGrant));
  assertEquals(fetched.status, 200);
  assertEquals(fetched.body, { plaintext_b64: b64("old"), epoch: 1, rewrapped: false });
  assert(raced);
  const now = await v.post("/v1/cred/fetch", await v.cap(fetchGrant));
  assertEquals(now.body.plaintext_b64, b64("newer"));
});

Deno.test("teardown deletes; a second teardown with a new cap deletes nothing", async () => {
  await using v = await testVault();
  await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("x") });
  assertEquals((await v.post("/v1/cred/teardown", await v.cap({ op: "teardown" }))).body, {
    deleted: 1,
  });
  assertEquals(await v.store.get(KEY), null);
  assertEquals((await v.post("/v1/cred/teardown", await v.cap({ op: "teardown" }))).body, {
    deleted: 0,
  });
  const gone = await v.post("/v1/cred/fetch", await v.cap(fetchGrant));
  assertEquals([gone.status, gone.body.error], [404, "not_found"]);
});

Deno.test("memory: put, get, teardown of one name and of a whole namespace", async () => {
  await using v = await testVault();
  const mem = (op: "store" | "fetch" | "teardown", namespace = "notes") =>
    v.cap({ op, data_class: "memory", namespace });
  for (const name of ["a", "b", "c"]) {
    const r = await v.post("/v1/memory/put", await mem("store"), {
      namespace: "notes",
      name,
      plaintext_b64: b64(`m-${name}`),
    });
    assertEquals(r.status, 200);
    assertEquals(r.body.key, `bots/${ACTOR_HEX}/memory/notes/${name}.enc`);
  }
  await v.post("/v1/memory/put", await mem("store", "other"), {
    namespace: "other",
    name: "a",
    plaintext_b64: b64("keep"),
  });
  const got = await v.post("/v1/memory/get", await mem("fetch"), { namespace: "notes", name: "b" });
  assertEquals(got.body, { plaintext_b64: b64("m-b"), epoch: 1, rewrapped: false });
  assertEquals(
    (await v.post("/v1/memory/teardown", await mem("teardown"), { namespace: "notes", name: "a" }))
      .body,
    { deleted: 1 },
  );
  assertEquals(
    (await v.post("/v1/memory/teardown", await mem("teardown"), { namespace: "notes" })).body,
    { deleted: 2 },
  );
  const kept = await v.post("/v1/memory/get", await mem("fetch", "other"), {
    namespace: "other",
    name: "a",
  });
  assertEquals(kept.body.plaintext_b64, b64("keep"));
});

Deno.test("/healthz answers with the store kind and the active epoch", async () => {
  await using v = await testVault();
  await v.keystore.rotate();
  const res = await v.app.request("/healthz");
  assertEquals(res.status, 200);
  const body = await res.json();
  assertEquals([body.ok, body.store, body.k3_epoch], [true, "fs", 2]);
});

// ---- refusals: every code of API.md's worker list, with its status ----

async function expectError(
  r: Promise<{ status: number; body: Record<string, unknown> }>,
  status: number,
  code: string,
) {
  const { status: s, body } = await r;
  assertEquals([s, body.error], [status, code], JSON.stringify(body));
  assertEquals(typeof body.message, "string");
}

Deno.test("cap_invalid: missing, malformed, forged caps (401)", async () => {
  await using v = await testVault();
  const body = { plaintext_b64: b64("x") };
  await expectError(v.post("/v1/cred/store", undefined, body), 401, "cap_invalid");
  await expectError(v.post("/v1/cred/store", "not.a.cap", body), 401, "cap_invalid");
  const { testCapKey } = await import("../support/caps.ts");
  const forged = await (await testCapKey()).mint({});
  await expectError(v.post("/v1/cred/store", forged, body), 401, "cap_invalid");
  await expectError(v.post("/v1/cred/fetch", forged), 401, "cap_invalid");
  await expectError(
    v.post("/v1/memory/get", forged, { namespace: "notes", name: "a" }),
    401,
    "cap_invalid",
  );
});

Deno.test("cap_expired (401)", async () => {
  await using v = await testVault();
  const old = await v.caps.mint({}, { ttlSeconds: 60, now: new Date(Date.now() - 200_000) });
  await expectError(v.post("/v1/cred/store", old, { plaintext_b64: b64("x") }), 401, "cap_expired");
});

Deno.test("cap_replayed: store and teardown caps are single-use (401)", async () => {
  await using v = await testVault();
  const cap = await v.cap();
  assertEquals((await v.post("/v1/cred/store", cap, { plaintext_b64: b64("1") })).status, 200);
  await expectError(
    v.post("/v1/cred/store", cap, { plaintext_b64: b64("2") }),
    401,
    "cap_replayed",
  );
  const td = await v.cap({ op: "teardown" });
  assertEquals((await v.post("/v1/cred/teardown", td)).status, 200);
  await expectError(v.post("/v1/cred/teardown", td), 401, "cap_replayed");
  const fetched = await v.post("/v1/cred/fetch", await v.cap(fetchGrant));
  assertEquals(fetched.status, 404, "the replayed store wrote nothing");
});

Deno.test("wrong_op and wrong_data_class (403)", async () => {
  await using v = await testVault();
  await expectError(
    v.post("/v1/cred/store", await v.cap(fetchGrant), { plaintext_b64: b64("x") }),
    403,
    "wrong_op",
  );
  await expectError(v.post("/v1/cred/fetch", await v.cap()), 403, "wrong_op");
  await expectError(v.post("/v1/cred/teardown", await v.cap(fetchGrant)), 403, "wrong_op");
  const memCap = await v.cap({ data_class: "memory", namespace: "notes" });
  await expectError(
    v.post("/v1/cred/store", memCap, { plaintext_b64: b64("x") }),
    403,
    "wrong_data_class",
  );
  await expectError(
    v.post("/v1/memory/put", await v.cap(), {
      namespace: "openai",
      name: "a",
      plaintext_b64: b64("x"),
    }),
    403,
    "wrong_data_class",
  );
});

Deno.test("out_of_scope: another namespace, or the chain re-check refuses (403)", async () => {
  await using v = await testVault();
  const cap = await v.cap({ data_class: "memory", namespace: "notes" });
  await expectError(
    v.post("/v1/memory/put", cap, { namespace: "diary", name: "a", plaintext_b64: b64("x") }),
    403,
    "out_of_scope",
  );
  await using gated = await testVault({
    authority: {
      recheck: (claims) => {
        if (claims.service === "github") {
          return Promise.reject(new WorkerError("out_of_scope", "github is no longer in scope"));
        }
        return Promise.resolve();
      },
    },
  });
  await expectError(
    gated.post("/v1/cred/fetch", await gated.cap({ op: "fetch", service: "github" })),
    403,
    "out_of_scope",
  );
  assertEquals(
    (await gated.post("/v1/cred/store", await gated.cap(), { plaintext_b64: b64("x") })).status,
    200,
  );
});

Deno.test("read_only: store and teardown on a read-only scope (403); fetch allowed", async () => {
  await using v = await testVault();
  await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("x") });
  await expectError(
    v.post("/v1/cred/store", await v.cap({ read_only: true }), { plaintext_b64: b64("y") }),
    403,
    "read_only",
  );
  await expectError(
    v.post("/v1/cred/teardown", await v.cap({ op: "teardown", read_only: true })),
    403,
    "read_only",
  );
  const ok = await v.post("/v1/cred/fetch", await v.cap({ op: "fetch", read_only: true }));
  assertEquals(ok.body.plaintext_b64, b64("x"));
});

Deno.test("not_found (404)", async () => {
  await using v = await testVault();
  await expectError(v.post("/v1/cred/fetch", await v.cap(fetchGrant)), 404, "not_found");
  await expectError(
    v.post(
      "/v1/memory/get",
      await v.cap({ op: "fetch", data_class: "memory", namespace: "notes" }),
      { namespace: "notes", name: "x" },
    ),
    404,
    "not_found",
  );
});

Deno.test("too_large: over the credential limit, and a body past the route limit (413)", async () => {
  await using v = await testVault();
  const big = new Uint8Array(64 * 1024 + 1).toBase64();
  await expectError(
    v.post("/v1/cred/store", await v.cap(), { plaintext_b64: big }),
    413,
    "too_large",
  );
  const huge = new Uint8Array(200 * 1024).toBase64();
  await expectError(
    v.post("/v1/cred/store", await v.cap(), { plaintext_b64: huge }),
    413,
    "too_large",
  );
  const exact = new Uint8Array(64 * 1024).toBase64();
  assertEquals(
    (await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: exact })).status,
    200,
  );
});

Deno.test("envelope_corrupt: tampered, truncated, unknown-epoch and relocated blobs (500)", async () => {
  await using v = await testVault();
  await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("secret") });
  const original = (await v.store.get(KEY))!.body;
  const fetchIt = async () => v.post("/v1/cred/fetch", await v.cap(fetchGrant));

  const flipped = original.slice();
  flipped[20] ^= 1;
  await v.store.put(KEY, flipped);
  await expectError(fetchIt(), 500, "envelope_corrupt");
  assertEquals(
    (await v.store.get(KEY))!.body,
    flipped,
    "a blob that does not decrypt is never rewritten",
  );

  await v.store.put(KEY, original.slice(0, 28));
  await expectError(fetchIt(), 500, "envelope_corrupt");

  const unknown = original.slice();
  unknown[0] = 99;
  await v.store.put(KEY, unknown);
  await expectError(fetchIt(), 500, "envelope_corrupt");

  // The AAD binds the location: the same bytes under another actor do not decrypt.
  await v.store.put(`bots/${OTHER_ACTOR.slice(2)}/credentials/openai.enc`, original);
  await expectError(
    v.post("/v1/cred/fetch", await v.cap({ op: "fetch", actor_omni: OTHER_ACTOR })),
    500,
    "envelope_corrupt",
  );
  await v.store.put(`bots/${ACTOR_HEX}/credentials/github.enc`, original);
  await expectError(
    v.post("/v1/cred/fetch", await v.cap({ op: "fetch", service: "github" })),
    500,
    "envelope_corrupt",
  );
});

Deno.test("epoch_destroyed: a blob left under a destroyed epoch (410), distinct from corruption", async () => {
  await using v = await testVault();
  await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("secret") });
  await v.keystore.rotate();
  await v.keystore.destroy(1);
  await expectError(v.post("/v1/cred/fetch", await v.cap(fetchGrant)), 410, "epoch_destroyed");
});

Deno.test("store_unavailable: the blob store is down (503)", async () => {
  await using v = await testVault({
    store: (dir) =>
      new FaultyStore(new FsBlobStore(join(dir, "blobs")), {
        fail: () => new StoreUnavailable("connection refused"),
      }),
  });
  await expectError(v.post("/v1/cred/fetch", await v.cap(fetchGrant)), 503, "store_unavailable");
  const detail = await v.post("/v1/cred/fetch", await v.cap(fetchGrant));
  assertEquals(String(detail.body.message).includes("connection refused"), false, "no internals");
  await expectError(
    v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("x") }),
    503,
    "store_unavailable",
  );
  await expectError(
    v.post("/v1/cred/teardown", await v.cap({ op: "teardown" })),
    503,
    "store_unavailable",
  );
});

Deno.test("bad_request: JSON, base64 and object names (400)", async () => {
  await using v = await testVault();
  await expectError(v.post("/v1/cred/store", await v.cap(), "{not json"), 400, "bad_request");
  await expectError(v.post("/v1/cred/store", await v.cap(), "[1]"), 400, "bad_request");
  await expectError(
    v.post("/v1/cred/store", await v.cap(), { plaintext_b64: "abc" }),
    400,
    "bad_request",
  );
  await expectError(
    v.post("/v1/cred/store", await v.cap(), { plaintext_b64: "ab c=" }),
    400,
    "bad_request",
  );
  await expectError(v.post("/v1/cred/store", await v.cap(), {}), 400, "bad_request");
  const put = async (namespace: unknown, name: unknown) =>
    v.post("/v1/memory/put", await v.cap({ data_class: "memory", namespace: "notes" }), {
      namespace,
      name,
      plaintext_b64: b64("x"),
    });
  for (
    const name of ["..", "a/b", "../x", "Upper", "a".repeat(65), "", ".hidden", "a..b", 5, null]
  ) {
    await expectError(put("notes", name), 400, "bad_request");
  }
  for (const ns of ["..", "No", "a/b"]) await expectError(put(ns, "a"), 400, "bad_request");
  const listing = [];
  for await (const item of v.store.list("bots/")) listing.push(item.key);
  assertEquals(listing, [], "nothing was written by refused requests");
});

Deno.test("unknown routes are JSON 404s", async () => {
  await using v = await testVault();
  const res = await v.app.request("/v1/nope");
  assertEquals(res.status, 404);
  assertMatch((await res.json()).error, /not_found/);
});
