/**
 * Writes of one key that overlap (issue 11 review): a write whose commit is refused because a
 * newer version was committed while its PUT was in flight — an adoption by a read of this
 * process, or another process's write or delete whose commit came first — while its own store
 * operation landed last. The store then holds this write's bytes (or nothing) and the pointer
 * claimed the other's: every later read was a false `integrity_mismatch`.
 *
 * Two "processes" are two `KvPointerStore` + `IntegrityStore` pairs on one KV and one store
 * directory: separate per-key locks and commit queues, as two processes have.
 *
 * @module
 */

import { join } from "node:path";
import { assertEquals } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { FaultyStore } from "../support/faulty_store.ts";
import { type BlobStore, FsBlobStore } from "../../lib/store/mod.ts";
import { KvAuditLog, KvPointerStore, KvStateStore } from "../../lib/state/mod.ts";
import { IntegrityStore } from "../../lib/integrity/mod.ts";
import { sha256Hex } from "../../lib/integrity/_store.ts";
import { credentialLocation } from "../../lib/worker/mod.ts";

const KEY = credentialLocation("33".repeat(32), "openai").key;
const bytes = (...b: number[]) => new Uint8Array(b);

/** A store operation held until `release`; `reached` resolves when the operation waits. */
function gate() {
  const reached = Promise.withResolvers<void>();
  const open = Promise.withResolvers<void>();
  return {
    reached: reached.promise,
    release: () => open.resolve(),
    wait: () => {
      reached.resolve();
      return open.promise;
    },
  };
}

/** Deletes wait for `beforeDelete` (FaultyStore gates puts only). */
class GatedDeletes extends FaultyStore {
  beforeDelete?: () => Promise<void>;
  override async delete(key: string) {
    await this.beforeDelete?.();
    return await super.delete(key);
  }
}

async function world() {
  const tmp = await tempDir();
  const state = await KvStateStore.open();
  const base = new FsBlobStore(join(tmp.path, "blobs"));
  const process = () => {
    const pointers = new KvPointerStore(state.kv);
    const inner = new GatedDeletes(base);
    return { pointers, inner, store: new IntegrityStore(inner as BlobStore, { pointers }) };
  };
  return {
    base,
    state,
    process,
    async mismatches() {
      return (await Array.fromAsync(new KvAuditLog(state.kv).entries()))
        .filter((e) => e.kind === "integrity_mismatch");
    },
    async [Symbol.asyncDispose]() {
      await base.close();
      state.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

Deno.test("integrity races: a read that adopts a pre-integrity blob while its first write is in flight is no false alarm", async () => {
  await using w = await world();
  const { store, pointers, inner } = w.process();
  await w.base.put(KEY, bytes(1)); // written before pointers existed
  const g = gate();
  inner.faults.beforePut = g.wait;
  const writing = store.put(KEY, bytes(2)); // announced, its PUT held
  await g.reached;
  const read = (await store.get(KEY))!;
  assertEquals(read.body, bytes(1));
  await read.adopt!(); // authenticated by its reader: adopted meanwhile (a newer version)
  assertEquals((await pointers.get(KEY))!.sha256, sha256Hex(bytes(1)));
  g.release();
  await writing;
  assertEquals((await w.base.get(KEY))!.body, bytes(2));
  assertEquals((await store.get(KEY))!.body, bytes(2));
  assertEquals((await pointers.get(KEY))!.sha256, sha256Hex(bytes(2)));
  assertEquals(await w.mismatches(), []);
});

Deno.test("integrity races: two processes, a write whose PUT lands last after the other's commit is no false alarm", async () => {
  await using w = await world();
  const a = w.process(); // the service: a credential store (no condition)
  const b = w.process(); // a headless re-encryption: compare-and-swap on the etag it read
  await a.store.put(KEY, bytes(1));
  const { etag } = (await w.base.get(KEY))!;
  const g = gate();
  a.inner.faults.beforePut = g.wait;
  const writing = a.store.put(KEY, bytes(2)); // a's intent first, its PUT held
  await g.reached;
  await b.store.put(KEY, bytes(3), { ifMatch: etag }); // b's newer version lands and commits
  g.release();
  await writing; // a's bytes land last; its commit finds b's newer version
  assertEquals((await w.base.get(KEY))!.body, bytes(2));
  assertEquals((await b.store.get(KEY))!.body, bytes(2));
  assertEquals((await a.store.get(KEY))!.body, bytes(2));
  const ptr = (await a.pointers.get(KEY))!;
  assertEquals([ptr.sha256, ptr.version > 3], [sha256Hex(bytes(2)), true]);
  assertEquals(await w.mismatches(), []);
});

Deno.test("integrity races: two processes, a delete that lands after the other's write committed is no false alarm", async () => {
  await using w = await world();
  const a = w.process(); // a teardown
  const b = w.process(); // a write of the same key
  await a.store.put(KEY, bytes(1));
  const g = gate();
  a.inner.beforeDelete = g.wait;
  const deleting = a.store.delete(KEY); // tombstone announced, the DELETE held
  await g.reached;
  await b.store.put(KEY, bytes(2)); // a newer version lands and commits
  g.release();
  assertEquals(await deleting, true); // removes b's bytes; its commit finds b's newer version
  assertEquals(await w.base.get(KEY), null);
  assertEquals(await b.store.get(KEY), null);
  assertEquals((await b.pointers.get(KEY))!.sha256, null);
  assertEquals(await w.mismatches(), []);
});

Deno.test("integrity races: a write whose commit is refused while a newer write's bytes are stored leaves the newer pointer", async () => {
  await using w = await world();
  const b = w.process();
  const g = gate();
  // Process a: its PUT lands, its commit is held until b's newer write landed and committed.
  const pointers = new (class extends KvPointerStore {
    override async commitReplacing(...args: Parameters<KvPointerStore["commitReplacing"]>) {
      await g.wait();
      return await super.commitReplacing(...args);
    }
  })(w.state.kv);
  const a = new IntegrityStore(w.base, { pointers });
  const writing = a.put(KEY, bytes(2));
  await g.reached;
  await b.store.put(KEY, bytes(3));
  g.release();
  await writing; // refused: b's version is newer, and b's bytes are the ones stored
  assertEquals((await w.base.get(KEY))!.body, bytes(3));
  assertEquals((await b.store.get(KEY))!.body, bytes(3));
  const ptr = (await b.pointers.get(KEY))!;
  assertEquals([ptr.sha256, ptr.version], [sha256Hex(bytes(3)), 2]);
  assertEquals(await w.mismatches(), []);
});

Deno.test("integrity races: a delete that failed with the blob still there leaves no tombstone intent that would pass off a later vanishing as that delete", async () => {
  await using w = await world();
  const { store, inner, pointers } = w.process();
  await store.put(KEY, bytes(1));
  inner.faults.fail = (op) => op === "delete" ? new Error("connection reset") : undefined;
  let failed = false;
  await store.delete(KEY).catch(() => failed = true); // the teardown reports the failure
  assertEquals(failed, true);
  inner.faults.fail = undefined;
  assertEquals((await store.get(KEY))!.body, bytes(1)); // still there, still current
  await w.base.delete(KEY); // later, the store's operator removes the blob
  let refused = false;
  await store.get(KEY).catch(() => refused = true);
  assertEquals(refused, true);
  assertEquals((await pointers.get(KEY))!.sha256, sha256Hex(bytes(1)));
  assertEquals((await w.mismatches()).length, 1);
});

Deno.test("integrity races: two processes, a write that commits after an older write which announced first, committed later and landed last, keeps the older write's bytes current", async () => {
  await using w = await world();
  const a = w.process(); // the service: a credential store (no condition)
  await a.store.put(KEY, bytes(1));
  const { etag } = (await w.base.get(KEY))!;
  const ga = gate();
  a.inner.faults.beforePut = ga.wait;
  const aWriting = a.store.put(KEY, bytes(2)); // a announces first, its PUT held
  await ga.reached;
  // b's commit is held until a's write (PUT last, then commit) is done.
  const gb = gate();
  const bPointers = new (class extends KvPointerStore {
    override async commitReplacing(...args: Parameters<KvPointerStore["commitReplacing"]>) {
      await gb.wait();
      return await super.commitReplacing(...args);
    }
  })(w.state.kv);
  // b: a headless re-encryption (compare-and-swap on the etag it read), its commit held.
  const bStore = new IntegrityStore(w.base, { pointers: bPointers });
  const bWriting = bStore.put(KEY, bytes(3), { ifMatch: etag }); // announces, lands first
  await gb.reached;
  ga.release();
  await aWriting; // a's bytes land last and a commits (its version is still the newest committed)
  gb.release();
  await bWriting; // b commits a newer version, but a's bytes are the ones stored
  assertEquals((await w.base.get(KEY))!.body, bytes(2));
  assertEquals((await a.store.get(KEY))!.body, bytes(2));
  assertEquals((await a.pointers.get(KEY))!.sha256, sha256Hex(bytes(2)));
  assertEquals(await w.mismatches(), []);
});

Deno.test("integrity races: a write whose intent a read committed first is announced to listeners once", async () => {
  await using w = await world();
  const g = gate();
  let hold = false;
  const pointers = new (class extends KvPointerStore {
    override async commitReplacing(...args: Parameters<KvPointerStore["commitReplacing"]>) {
      if (hold && args[1] === "write") await g.wait();
      return await super.commitReplacing(...args);
    }
  })(w.state.kv);
  const store = new IntegrityStore(w.base, { pointers });
  const heard: number[] = [];
  store.listen((p) => heard.push(p.version)); // the anchor loop counts writes with it
  await store.put(KEY, bytes(1));
  hold = true;
  const writing = store.put(KEY, bytes(2)); // landed, its commit held
  await g.reached;
  assertEquals((await store.get(KEY))!.body, bytes(2)); // the read commits the intent
  g.release();
  await writing; // finds its own version committed already
  assertEquals(heard, [1, 2]);
});

Deno.test("integrity races: two processes, a tombstone committed first never hides the bytes of a write that landed after its delete", async () => {
  await using w = await world();
  const a = w.process(); // a write of the key
  const b = w.process(); // a teardown of the same key
  await a.store.put(KEY, bytes(1));
  const g = gate();
  a.inner.faults.beforePut = g.wait;
  const writing = a.store.put(KEY, bytes(2)); // announced first, its PUT held
  await g.reached;
  assertEquals(await b.store.delete(KEY), true); // a newer version: the tombstone, committed
  g.release();
  await writing; // the bytes land after the delete; the commit finds the tombstone newer
  assertEquals((await w.base.get(KEY))!.body, bytes(2));
  assertEquals((await b.store.get(KEY))!.body, bytes(2));
  assertEquals((await b.pointers.get(KEY))!.sha256, sha256Hex(bytes(2)));
  assertEquals(await w.mismatches(), []);
});
