/**
 * Checked reads and pointers (ARCHITECTURE §13): a rollback to an older valid ciphertext, a
 * flipped byte, a deleted or restored blob are refused before decryption, audited, and left
 * untouched; restoring the current bytes makes the blob readable again. Adoption vs strict.
 *
 * @module
 */

import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { b64, testVault } from "../support/harness.ts";
import { type BlobStore, FsBlobStore } from "../../lib/store/mod.ts";
import { KvAuditLog, KvPointerStore, KvStateStore } from "../../lib/state/mod.ts";
import { IntegrityMismatch, IntegrityStore } from "../../lib/integrity/mod.ts";
import { sha256Hex } from "../../lib/integrity/_store.ts";
import { credentialLocation, openBlob, parseBlobKey, sealBlob } from "../../lib/worker/mod.ts";
import type { JobEvent } from "../../lib/state/mod.ts";
import { makeDataDir } from "../reencrypt/datadir.ts";
import { OPERATOR } from "../reencrypt/fixture.ts";
import { tempDir } from "../support/tmp.ts";

async function integrityVault(mode: "adopt" | "strict" = "adopt") {
  const state = await KvStateStore.open();
  const pointers = new KvPointerStore(state.kv);
  let base!: FsBlobStore;
  const v = await testVault({
    store: (dir) => {
      base = new FsBlobStore(join(dir, "blobs"));
      return new IntegrityStore(base, { pointers, mode });
    },
  });
  return {
    v,
    base,
    pointers,
    audit: new KvAuditLog(state.kv),
    async [Symbol.asyncDispose]() {
      await v[Symbol.asyncDispose]();
      state.close();
    },
  };
}

const KEY = credentialLocation("22".repeat(32), "openai").key;
const b = (text: string) => new TextEncoder().encode(text);

Deno.test("integrity: a rollback to an older valid ciphertext is refused with 409 until the current bytes are back", async () => {
  await using t = await integrityVault();
  const { v, base, pointers } = t;
  assertEquals(
    (await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("old") })).status,
    200,
  );
  const older = (await base.get(KEY))!.body;
  assertEquals(
    (await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("new") })).status,
    200,
  );
  const current = (await base.get(KEY))!.body;
  const ptr = (await pointers.get(KEY))!;
  assertEquals([ptr.version, ptr.sha256, ptr.size], [2, sha256Hex(current), current.length]);

  await base.put(KEY, older); // the store's operator restores a backup
  const fetch = async () => v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }), {});
  const refused = await fetch();
  assertEquals(refused.status, 409);
  assertEquals(refused.body.error, "integrity_mismatch");
  // Nothing was overwritten: the rolled-back bytes are still there, the pointer still v2.
  assertEquals((await base.get(KEY))!.body, older);
  assertEquals((await pointers.get(KEY))!.version, 2);
  const entries = await Array.fromAsync(t.audit.entries());
  const mismatch = entries.find((e) => e.kind === "integrity_mismatch");
  assert(mismatch, "the mismatch is audited");
  assertEquals([mismatch.data.expected, mismatch.data.found], [
    sha256Hex(current),
    sha256Hex(older),
  ]);
  assertEquals(entries.filter((e) => e.kind === "blob_written").length, 2);
  assert((await t.audit.verify()).ok);

  await base.put(KEY, current); // put the current bytes back
  const ok = await fetch();
  assertEquals(ok.status, 200);
  assertEquals(atob(ok.body.plaintext_b64 as string), "new");
});

Deno.test("integrity: a flipped byte is refused before decryption is tried", async () => {
  await using t = await integrityVault();
  const { v, base } = t;
  await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("secret") });
  const bytes = (await base.get(KEY))!.body;
  const flipped = bytes.slice();
  flipped[20] ^= 1;
  await base.put(KEY, flipped);
  // Decryption would say envelope_corrupt (500); hash first says integrity_mismatch (409).
  const r = await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }), {});
  assertEquals([r.status, r.body.error], [409, "integrity_mismatch"]);
  await assertRejects(() => t.v.store.get(KEY), IntegrityMismatch);
});

Deno.test("integrity: a deleted blob that comes back, and a blob that vanishes, are refused", async () => {
  await using t = await integrityVault();
  const { v, base, pointers } = t;
  await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("x") });
  const bytes = (await base.get(KEY))!.body;
  assertEquals((await v.post("/v1/cred/teardown", await v.cap({ op: "teardown" }), {})).body, {
    deleted: 1,
  });
  const tomb = (await pointers.get(KEY))!;
  assertEquals([tomb.sha256, tomb.version], [null, 2]);
  assertEquals((await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }), {})).status, 404);
  await base.put(KEY, bytes);
  assertEquals(
    (await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }), {})).body.error,
    "integrity_mismatch",
  );
  await base.delete(KEY);
  await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("y") });
  await base.delete(KEY); // the store loses a blob its pointer claims
  assertEquals(
    (await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }), {})).body.error,
    "integrity_mismatch",
  );
});

Deno.test("integrity: a blob without a pointer is adopted once (audited), or refused when strict", async () => {
  for (const mode of ["adopt", "strict"] as const) {
    await using t = await integrityVault(mode);
    const { v, base, pointers } = t;
    const loc = credentialLocation("22".repeat(32), "openai");
    const blob = sealBlob(v.keystore, loc, new TextEncoder().encode("legacy")).blob;
    await base.put(KEY, blob); // written before pointers existed
    const r = await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }), {});
    const kinds = (await Array.fromAsync(t.audit.entries())).map((e) => [e.kind, e.data.adopted]);
    if (mode === "adopt") {
      assertEquals(r.status, 200);
      assertEquals((await pointers.get(KEY))!.sha256, sha256Hex(blob));
      assertEquals(kinds, [["blob_written", true]]);
      assertEquals((await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }), {})).status, 200);
    } else {
      assertEquals([r.status, r.body.error], [409, "integrity_mismatch"]);
      assertEquals(await pointers.get(KEY), null);
      assertEquals(kinds, [["integrity_mismatch", undefined]]);
    }
  }
});

Deno.test("integrity: bytes without a pointer that do not authenticate are never adopted (no pointer, no blob_written)", async () => {
  await using t = await integrityVault();
  const { v, base, pointers } = t;
  // Another key's envelope copied to this one by the store's operator: it never opens here.
  const other = credentialLocation("33".repeat(32), "openai");
  const foreign = sealBlob(v.keystore, other, new TextEncoder().encode("not yours")).blob;
  await base.put(KEY, foreign);
  const r = await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }), {});
  assertEquals([r.status, r.body.error], [500, "envelope_corrupt"]);
  assertEquals(await pointers.get(KEY), null);
  assertEquals((await Array.fromAsync(t.audit.entries())).map((e) => e.kind), []);
  // The right bytes are adopted on their first read, as before.
  const own = sealBlob(v.keystore, credentialLocation("22".repeat(32), "openai"), b("mine")).blob;
  await base.put(KEY, own);
  assertEquals((await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }), {})).status, 200);
  assertEquals((await pointers.get(KEY))!.sha256, sha256Hex(own));
});

Deno.test("integrity: an adoption never replaces a pointer a write committed meanwhile", async () => {
  await using t = await integrityVault();
  const { v, base, pointers } = t;
  const store = v.store as IntegrityStore;
  const old = sealBlob(v.keystore, credentialLocation("22".repeat(32), "openai"), b("old")).blob;
  await base.put(KEY, old); // written before pointers existed
  const read = (await store.get(KEY))!;
  assert(read.adopt, "unpointed bytes come with adopt()");
  assertEquals(await pointers.get(KEY), null); // nothing recorded before the reader authenticated
  const fresh = sealBlob(v.keystore, credentialLocation("22".repeat(32), "openai"), b("new")).blob;
  await store.put(KEY, fresh); // a write commits while the reader decrypts
  await read.adopt(); // announced after the write: a higher version, yet it must not win
  assertEquals((await pointers.get(KEY))!.sha256, sha256Hex(fresh));
  assertEquals((await store.get(KEY))!.body, fresh);
  const kinds = (await Array.fromAsync(t.audit.entries())).map((e) => e.kind);
  assertEquals(kinds, ["blob_written"]);
});

Deno.test("integrity: an intent whose write landed but was never committed is committed by the next read", async () => {
  await using tmp = await tempDir();
  const state = await KvStateStore.open();
  try {
    const pointers = new KvPointerStore(state.kv);
    const base = new FsBlobStore(join(tmp.path, "blobs"));
    const store = new IntegrityStore(base, { pointers });
    await store.put(KEY, new Uint8Array([1, 2, 3]));
    // A crash between the PUT and the commit: intent recorded, bytes written, no commit.
    const intent = await pointers.announce({
      key: KEY,
      epoch: null,
      sha256: sha256Hex(new Uint8Array([4])),
      size: 1,
    });
    await base.put(KEY, new Uint8Array([4]));
    assertEquals((await store.get(KEY))!.body, new Uint8Array([4]));
    assertEquals((await pointers.get(KEY))!.version, intent.version);
    // A crash before the PUT: the intent is never matched, the old bytes still read.
    await pointers.announce({
      key: KEY,
      epoch: null,
      sha256: sha256Hex(new Uint8Array([5])),
      size: 1,
    });
    assertEquals((await store.get(KEY))!.body, new Uint8Array([4]));
    // But an older committed version is not accepted back.
    await base.put(KEY, new Uint8Array([1, 2, 3]));
    await assertRejects(() => store.get(KEY), IntegrityMismatch);
    await base.close();
  } finally {
    state.close();
  }
});

Deno.test("integrity: a re-encryption job fails the rolled-back blob with integrity_mismatch and leaves it; after restore it moves", async () => {
  await using data = await makeDataDir(3);
  const key = data.keys[0];
  const blobPath = join(data.dir, "blobs", key);
  let h = await data.open();
  let current: Uint8Array;
  const older = await Deno.readFile(blobPath);
  try {
    // A newer value, still under epoch 1, written through the checked store (pointer v2).
    const loc = parseBlobKey(key)!;
    const sealed = sealBlob(h.keystore, loc, new TextEncoder().encode("newer"), 1).blob;
    await h.store.put(key, sealed);
    current = sealed;
  } finally {
    await h.close();
  }
  await Deno.writeFile(blobPath, older); // rollback behind the service's back
  h = await data.open();
  try {
    const job = await h.runner.start({ operator_omni: OPERATOR, old_epoch: 1, new_epoch: 2 });
    const final = await h.runner.wait(job.job_id);
    assertEquals(final.counts.failed, 1);
    assertEquals(final.counts.reencrypted, 2);
    const events: JobEvent[] = await Array.fromAsync(h.runner.events(job.job_id));
    const failed = events.find((e) => e.event === "blob" && e.data.outcome === "failed");
    assert(failed && failed.event === "blob");
    assertEquals(failed.data.key, key);
    assert(failed.data.reason!.startsWith("integrity_mismatch:"), failed.data.reason);
    assertEquals(await Deno.readFile(blobPath), older); // nothing overwritten
  } finally {
    await h.close();
  }
  await Deno.writeFile(blobPath, current!);
  h = await data.open();
  try {
    const job = await h.runner.start({ operator_omni: OPERATOR, old_epoch: 1, new_epoch: 2 });
    const final = await h.runner.wait(job.job_id);
    assertEquals([final.counts.failed, final.counts.reencrypted], [0, 1]);
    const stored = (await h.store.get(key))!;
    assertEquals(
      new TextDecoder().decode(openBlob(h.keystore, parseBlobKey(key)!, stored.body).plaintext),
      "newer",
    );
  } finally {
    await h.close();
  }
});

Deno.test("integrity: while writes are blocked (a detected state rollback) stores and teardowns answer 409 integrity_blocked; fetches work", async () => {
  const state = await KvStateStore.open();
  let blocked: string | null = null;
  await using v = await testVault({
    store: (dir) =>
      new IntegrityStore(new FsBlobStore(join(dir, "blobs")), {
        pointers: new KvPointerStore(state.kv),
        writeBlock: () => Promise.resolve(blocked),
      }),
  });
  try {
    await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("kept") });
    blocked = "the state store holds 1 pointer changes but the chain anchored 2";
    const store = await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("new") });
    assertEquals([store.status, store.body.error], [409, "integrity_blocked"]);
    assert(String(store.body.message).includes("chain anchored 2"), String(store.body.message));
    const rm = await v.post("/v1/cred/teardown", await v.cap({ op: "teardown" }), {});
    assertEquals([rm.status, rm.body.error], [409, "integrity_blocked"]);
    const fetch = await v.post("/v1/cred/fetch", await v.cap({ op: "fetch" }), {});
    assertEquals([fetch.status, atob(fetch.body.plaintext_b64 as string)], [200, "kept"]);
  } finally {
    state.close();
  }
});

Deno.test("integrity: memory puts, a lazy re-wrap and a namespace teardown each leave a pointer and an audit entry", async () => {
  await using t = await integrityVault();
  const { v, pointers } = t;
  const mem = (op: "store" | "fetch" | "teardown") =>
    v.cap({ op, data_class: "memory", namespace: "notes" });
  for (const name of ["a", "b"]) {
    const r = await v.post("/v1/memory/put", await mem("store"), {
      namespace: "notes",
      name,
      plaintext_b64: b64(name),
    });
    assertEquals(r.status, 200);
  }
  const key = (name: string) => `bots/${"22".repeat(32)}/memory/notes/${name}.enc`;
  assertEquals((await pointers.get(key("a")))?.version, 1);
  await v.keystore.rotate();
  const got = await v.post("/v1/memory/get", await mem("fetch"), { namespace: "notes", name: "a" });
  assertEquals([got.status, got.body.rewrapped], [200, true]);
  assertEquals((await pointers.get(key("a")))?.version, 2); // the re-wrap is a write too
  const rm = await v.post("/v1/memory/teardown", await mem("teardown"), { namespace: "notes" });
  assertEquals(rm.body, { deleted: 2 });
  for (const name of ["a", "b"]) assertEquals((await pointers.get(key(name)))?.sha256, null);
  const kinds = (await Array.fromAsync(t.audit.entries())).map((e) => e.kind);
  assertEquals(kinds, [
    "blob_written",
    "blob_written",
    "blob_written",
    "blob_deleted",
    "blob_deleted",
  ]);
  assert((await t.audit.verify()).ok);
});

Deno.test("integrity: a write that replaces the bytes while a read is in flight is no false alarm", async () => {
  await using tmp = await tempDir();
  const state = await KvStateStore.open();
  try {
    let racing = false;
    // A slow pointer read: read alongside the bytes it would come back after the racing write.
    const pointers = new (class extends KvPointerStore {
      override async get(key: string) {
        if (racing) await new Promise((r) => setTimeout(r, 100));
        return await super.get(key);
      }
    })(state.kv);
    const base = new FsBlobStore(join(tmp.path, "blobs"));
    // Returns the bytes it read, but only after a whole new write of the key has committed.
    const slow: BlobStore = {
      kind: "fs",
      get: async (key) => {
        const got = await base.get(key);
        if (racing) {
          racing = false;
          await store.put(key, new Uint8Array([9, 9]));
        }
        return got;
      },
      getRange: (k, a, b) => base.getRange(k, a, b),
      head: (k) => base.head(k),
      put: (k, b, c) => base.put(k, b, c),
      delete: (k) => base.delete(k),
      list: (p, o) => base.list(p, o),
      close: () => base.close(),
    };
    // Declared after `slow`, which only uses it when called.
    const store = new IntegrityStore(slow, { pointers, mode: "strict" });
    await store.put(KEY, new Uint8Array([1]));
    racing = true;
    assertEquals((await store.get(KEY))!.body, new Uint8Array([1])); // what was current then
    assertEquals((await store.get(KEY))!.body, new Uint8Array([9, 9]));
    await base.close();
  } finally {
    state.close();
  }
});

Deno.test("integrity: a commit that lands while a read looks for its intent is no false alarm", async () => {
  await using tmp = await tempDir();
  const state = await KvStateStore.open();
  try {
    let racing = false;
    let pending: (() => Promise<void>) | null = null;
    const pointers = new (class extends KvPointerStore {
      // The writer's commit (which deletes its intent) lands between the read's second look
      // at the pointer and its look at the intents.
      override async intents(key: string, above?: number) {
        if (racing) {
          racing = false;
          await pending!();
        }
        return await super.intents(key, above);
      }
    })(state.kv);
    const base = new FsBlobStore(join(tmp.path, "blobs"));
    const store = new IntegrityStore(base, { pointers, mode: "strict" });
    await store.put(KEY, new Uint8Array([1]));
    const intent = await pointers.announce({
      key: KEY,
      epoch: null,
      sha256: sha256Hex(new Uint8Array([2])),
      size: 1,
    });
    await base.put(KEY, new Uint8Array([2])); // landed, commit still to come
    pending = async () => {
      await pointers.commit(intent, "write");
      assertEquals(await pointers.intents(KEY), []);
    };
    racing = true;
    assertEquals((await store.get(KEY))!.body, new Uint8Array([2]));
    assertEquals(
      (await Array.fromAsync(new KvAuditLog(state.kv).entries()))
        .filter((e) => e.kind === "integrity_mismatch"),
      [],
    );
    await base.close();
  } finally {
    state.close();
  }
});
