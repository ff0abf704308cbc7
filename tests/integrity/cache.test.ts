/**
 * The pointer cache of checked reads (`KvPointerStore.expected` with the state's change counter):
 * it answers from memory, yet another process's write is seen by the next read — no false alarm
 * on its bytes, and a rollback to the bytes it replaced is refused although this process cached
 * them as current.
 *
 * @module
 */

import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { FsBlobStore } from "../../lib/store/mod.ts";
import { ChangeCounter, KvPointerStore, KvStateStore } from "../../lib/state/mod.ts";
import { IntegrityMismatch, IntegrityStore } from "../../lib/integrity/mod.ts";
import { sha256Hex } from "../../lib/integrity/_store.ts";
import { tempDir } from "../support/tmp.ts";

const KEY = "bots/" + "c3".repeat(32) + "/memory/notes.enc";
const bytes = (s: string) => new TextEncoder().encode(s);

/** `kv` with its reads (`get`, `getMany`) counted in `reads`. */
function countingReads(inner: Deno.Kv): { kv: Deno.Kv; reads: number } {
  const counted = {
    reads: 0,
    kv: new Proxy(inner, {
      get(target, prop) {
        const v = Reflect.get(target, prop);
        if (prop === "get" || prop === "getMany") {
          return (...args: unknown[]) => {
            counted.reads++;
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof v === "function" ? v.bind(target) : v;
      },
    }),
  };
  return counted;
}

/** One "process": its own KV handle and counter on the shared files, its own store wrapper. */
async function proc(dir: string) {
  const state = await KvStateStore.open(join(dir, "state.kv"));
  const pointers = new KvPointerStore(state.kv, { changes: state.changes });
  const fs = new FsBlobStore(join(dir, "blobs"));
  return {
    fs,
    pointers,
    store: new IntegrityStore(fs, { pointers }),
    async [Symbol.asyncDispose]() {
      await fs.close();
      state.close();
    },
  };
}

Deno.test("pointer cache: another process's write is seen at once — its bytes pass, a rollback to the bytes it replaced is refused", async () => {
  await using tmp = await tempDir("agentkeys-pointer-cache-");
  await using a = await proc(tmp.path);
  await using b = await proc(tmp.path);
  await a.store.put(KEY, bytes("v1"));
  assertEquals(await a.store.get(KEY).then((g) => g?.body), bytes("v1")); // cached by `a`
  await b.store.put(KEY, bytes("v2"));
  assertEquals(await a.store.get(KEY).then((g) => g?.body), bytes("v2"), "no false alarm");
  // A storage operator puts the older ciphertext back.
  await a.fs.put(KEY, bytes("v1"));
  await assertRejects(() => a.store.get(KEY), IntegrityMismatch);
  // Written by the other process again, then rolled back, with `a` holding v2 in its cache.
  await a.fs.put(KEY, bytes("v2"));
  assertEquals(await a.store.get(KEY).then((g) => g?.body), bytes("v2"));
  await b.store.put(KEY, bytes("v3"));
  await b.fs.put(KEY, bytes("v2"));
  await assertRejects(() => a.store.get(KEY), IntegrityMismatch);
});

Deno.test("pointer cache: a checked read of a blob this process wrote makes no KV read; a change by another process makes one", async () => {
  await using tmp = await tempDir("agentkeys-pointer-cache-");
  const state = await KvStateStore.open(join(tmp.path, "state.kv"));
  const counted = countingReads(state.kv);
  const kv = counted.kv;
  const pointers = new KvPointerStore(kv, { changes: state.changes });
  const fs = new FsBlobStore(join(tmp.path, "blobs"));
  const store = new IntegrityStore(fs, { pointers });
  await using b = await proc(tmp.path);
  try {
    await store.put(KEY, bytes("v1"));
    counted.reads = 0;
    for (let i = 0; i < 5; i++) await store.get(KEY);
    // A range read from byte 0 (listings, censuses) checks the epoch from the same cache.
    for (let i = 0; i < 5; i++) await store.getRange(KEY, 0, 0);
    assertEquals(counted.reads, 0, "answered from the cache");
    await b.store.put(KEY + "x", bytes("other")); // any pointer change by another process
    await store.get(KEY);
    assertEquals(counted.reads, 1, "the cache was dropped: one read");
    await store.get(KEY);
    assertEquals(counted.reads, 1);
  } finally {
    await fs.close();
    state.close();
  }
});

Deno.test("pointer cache: without a change counter every checked read asks KV (a custom state store)", async () => {
  const state = await KvStateStore.open();
  try {
    const pointers = new KvPointerStore(state.kv);
    await using tmp = await tempDir("agentkeys-pointer-cache-");
    const store = new IntegrityStore(new FsBlobStore(tmp.path), { pointers });
    await store.put(KEY, bytes("v1"));
    // Changed behind the store's back: seen, because nothing is cached.
    const ptr = (await pointers.get(KEY))!;
    await state.kv.set(["integrity", "ptr", KEY], { ...ptr, sha256: sha256Hex(bytes("v0")) });
    await assertRejects(() => store.get(KEY), IntegrityMismatch);
  } finally {
    state.close();
  }
});

Deno.test("change counter: a bump drops the other caches of this process and another handle's on the same file, never the bumper's own", async () => {
  await using tmp = await tempDir("agentkeys-changes-");
  const path = join(tmp.path, "state.kv.changes");
  const one = ChangeCounter.open(path);
  const two = ChangeCounter.open(path); // another process
  try {
    const dropped: string[] = [];
    const x = one.register(() => dropped.push("x"));
    const y = one.register(() => dropped.push("y"));
    const z = two.register(() => dropped.push("z"));
    x.bump();
    assertEquals([dropped, x.generation, y.generation], [["y"], 0, 1]);
    one.check();
    assertEquals(dropped, ["y"], "its own bump is not a foreign change");
    two.check();
    assertEquals([dropped, z.generation], [["y", "z"], 1]);
    two.check();
    assertEquals(dropped.length, 2, "seen once");
    z.bump();
    one.check();
    assertEquals(dropped, ["y", "z", "x", "y"]);
    // A bump that finds a foreign change it had not seen drops its own cache too.
    z.bump();
    y.bump();
    assertEquals(dropped.slice(4), ["x", "y"]);
    assertEquals(Deno.statSync(path).size, 8);
  } finally {
    one.close();
    two.close();
  }
});

Deno.test("change counter: an empty or new file reads as 0; without a file the counter is local", async () => {
  await using tmp = await tempDir("agentkeys-changes-");
  const path = join(tmp.path, "c");
  Deno.writeFileSync(path, new Uint8Array(0));
  const c = ChangeCounter.open(path);
  const local = ChangeCounter.open(null);
  try {
    let drops = 0;
    c.register(() => drops++);
    c.check();
    assertEquals(drops, 0);
    Deno.writeFileSync(path, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
    c.check();
    assertEquals(drops, 1);
    const seen: string[] = [];
    const p = local.register(() => seen.push("p"));
    local.register(() => seen.push("q"));
    p.bump();
    local.check();
    assertEquals(seen, ["q"]);
  } finally {
    c.close();
    local.close();
  }
});

Deno.test("pointer cache: bounded — past maxCached the least recently used digest is read again", async () => {
  await using tmp = await tempDir("agentkeys-pointer-cache-");
  const state = await KvStateStore.open(join(tmp.path, "state.kv"));
  const counted = countingReads(state.kv);
  const kv = counted.kv;
  const pointers = new KvPointerStore(kv, { changes: state.changes, maxCached: 2 });
  const store = new IntegrityStore(new FsBlobStore(join(tmp.path, "blobs")), { pointers });
  try {
    for (const k of ["a", "b", "c"]) await store.put(`${KEY}.${k}`, bytes(k));
    counted.reads = 0;
    await store.get(`${KEY}.b`);
    await store.get(`${KEY}.c`);
    await store.get(`${KEY}.b`); // b is now the most recently used
    assertEquals(counted.reads, 0, "the two most recent are cached");
    await store.put(`${KEY}.d`, bytes("d")); // evicts c, not b
    counted.reads = 0; // (the write itself reads versions and the counter)
    await store.get(`${KEY}.b`);
    assertEquals(counted.reads, 0);
    await store.get(`${KEY}.c`);
    assertEquals(counted.reads, 1, "c was evicted: read from KV");
    await store.get(`${KEY}.a`);
    assertEquals(counted.reads, 2, "a was evicted first");
  } finally {
    await store.close();
    state.close();
  }
});

Deno.test("change counter: a counter file deleted or renamed over while processes run is followed — later changes still drop the caches", async () => {
  await using tmp = await tempDir("agentkeys-changes-");
  const path = join(tmp.path, "state.kv.changes");
  const running = ChangeCounter.open(path);
  try {
    let drops = 0;
    running.register(() => drops++);
    for (const replace of ["delete", "rename"] as const) {
      if (replace === "delete") Deno.removeSync(path);
      else {
        Deno.writeFileSync(`${path}.new`, new Uint8Array(8));
        Deno.renameSync(`${path}.new`, path);
      }
      const started = ChangeCounter.open(path); // a process started after the replacement
      try {
        const before = drops;
        started.register(() => {}).bump();
        running.check();
        assert(drops > before, `${replace}: the running process followed the new file`);
        const followed = drops;
        started.register(() => {}).bump();
        running.check();
        assertEquals(drops, followed + 1, `${replace}: a later change is seen`);
      } finally {
        started.close();
      }
    }
  } finally {
    running.close();
  }
});
