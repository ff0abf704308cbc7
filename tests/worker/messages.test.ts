/**
 * The worker's answers never carry object keys, absolute paths or endpoints: `not_found` and the
 * other refusals name the data class; store failures answer a fixed sentence.
 */

import { assert, assertEquals } from "../support/assert.ts";
import { join } from "node:path";
import { FsBlobStore } from "../../lib/store/mod.ts";
import { StoreUnavailable } from "../../lib/store/_errors.ts";
import { ACTOR } from "../support/caps.ts";
import { FaultyStore } from "../support/faulty_store.ts";
import { b64, testVault } from "../support/harness.ts";

const ACTOR_HEX = ACTOR.slice(2);

function assertNoLocation(body: Record<string, unknown>, ...secrets: string[]) {
  const text = JSON.stringify(body);
  for (const s of ["bots/", ACTOR_HEX, ".enc", ...secrets]) {
    assert(!text.includes(s), `the answer carries ${s}: ${text}`);
  }
}

Deno.test("not_found names no object key (credentials and memory)", async () => {
  await using v = await testVault();
  const cred = await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }));
  assertEquals([cred.status, cred.body.error], [404, "not_found"]);
  assertNoLocation(cred.body);
  const mem = await v.post(
    "/v1/memory/get",
    await v.cap({ op: "fetch", data_class: "memory", namespace: "notes" }),
    { namespace: "notes", name: "todo" },
  );
  assertEquals([mem.status, mem.body.error], [404, "not_found"]);
  assertNoLocation(mem.body, "notes/todo");
});

Deno.test("envelope_corrupt and epoch_destroyed name no object key", async () => {
  await using v = await testVault();
  await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("secret") });
  const key = `bots/${ACTOR_HEX}/credentials/openai.enc`;
  const original = (await v.store.get(key))!.body;
  const damaged = original.slice();
  damaged[20] ^= 1;
  await v.store.put(key, damaged);
  const corrupt = await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }));
  assertEquals([corrupt.status, corrupt.body.error], [500, "envelope_corrupt"]);
  assertNoLocation(corrupt.body);
  await v.store.put(key, original);
  await v.keystore.rotate();
  await v.keystore.destroy(1);
  const gone = await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }));
  assertEquals([gone.status, gone.body.error], [410, "epoch_destroyed"]);
  assertNoLocation(gone.body);
});

Deno.test("a store error whose message holds a path and an endpoint answers 503 without either", async () => {
  let path = "";
  await using v = await testVault({
    store: (dir) => {
      path = join(dir, "blobs");
      return new FaultyStore(new FsBlobStore(path), {
        fail: (_op, key) =>
          new StoreUnavailable(
            `EIO reading ${path}/${key} via https://rgw.internal.example:7480/agentkeys-vault`,
          ),
      });
    },
  });
  for (
    const r of [
      await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" })),
      await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("x") }),
      await v.post("/v1/cred/teardown", await v.cap({ op: "teardown" })),
    ]
  ) {
    assertEquals([r.status, r.body.error], [503, "store_unavailable"]);
    assertNoLocation(r.body, path, "rgw.internal", "EIO");
  }
});
