/**
 * The TTL sweep: only idle memory and inbound blobs go, never credentials, never a blob written
 * during the sweep; reads through the worker's store keep a blob alive; a tombstone for each.
 *
 * @module
 */

import { assert, assertEquals } from "../support/assert.ts";
import {
  type BlobLocation,
  credentialLocation,
  inboundLocation,
  memoryLocation,
  sealBlob,
} from "../../lib/worker/mod.ts";
import { LifecycleStore, TouchingStore, TtlSweeper } from "../../lib/lifecycle/mod.ts";
import type { Ttls } from "../../lib/lifecycle/_sweep.ts";
import type { BlobStore } from "../../lib/store/mod.ts";
import { KvPointerStore } from "../../lib/state/mod.ts";
import { IntegrityStore } from "../../lib/integrity/mod.ts";
import { DAY, HOUR, type LifecycleEnv, lifecycleEnv } from "./_env.ts";

const A = "b2".repeat(32);
const TTLS: Ttls = { memory: DAY, inbound: 2 * DAY };

function setup(env: LifecycleEnv, ttls: Ttls = TTLS) {
  const touches = new LifecycleStore(env.kv);
  const now = () => env.clock.ms;
  // What the worker is given: its reads and writes are the blobs' uses.
  const worker = new TouchingStore(env.store, touches, ttls, now);
  // A sweeper over another view of the store (a racing writer, a checked store).
  const sweeperOver = (store: BlobStore) =>
    new TtlSweeper({ store, touches, audit: env.audit, ttls, now });
  const sweeper = sweeperOver(env.store);
  const put = async (loc: BlobLocation, text: string, via: BlobStore = worker) => {
    const { blob } = sealBlob(env.keystore, loc, new TextEncoder().encode(text));
    await via.put(loc.key, blob);
  };
  const exists = async (loc: BlobLocation) => (await env.store.head(loc.key)) !== null;
  return { touches, worker, sweeper, sweeperOver, put, exists };
}

Deno.test("the sweep deletes only idle memory and inbound blobs, never credentials", async () => {
  await using env = await lifecycleEnv();
  const { worker, sweeper, put, exists } = setup(env);
  const cred = credentialLocation(A, "github");
  const mem = memoryLocation(A, "notes", "old");
  const read = memoryLocation(A, "notes", "read");
  const inbox = inboundLocation(A, "m1");
  for (const loc of [cred, mem, read, inbox]) await put(loc, "x");
  assertEquals((await sweeper.sweep()).deleted, 0);
  env.clock.advance(12 * HOUR);
  await worker.get(read.key); // a read through the worker: not idle
  env.clock.advance(12 * HOUR);
  const first = await sweeper.sweep();
  assertEquals([first.deleted, first.examined], [1, 3]); // credentials are not even examined
  assertEquals([await exists(mem), await exists(read), await exists(inbox)], [false, true, true]);
  env.clock.advance(DAY);
  assertEquals((await sweeper.sweep()).deleted, 2); // `read` (idle 1.5 d) and the inbox (2 d)
  env.clock.advance(100 * DAY);
  await sweeper.sweep();
  assert(await exists(cred), "credentials are never swept");
  const tombstones = await env.entries("ttl_swept");
  assertEquals(tombstones.map((t) => t.key), [mem.key, inbox.key, read.key]); // listing order
  assertEquals(tombstones[0], {
    key: mem.key,
    class: "memory",
    idle_seconds: 86400,
    ttl_seconds: 86400,
  });
});

Deno.test("a class without a TTL is never swept; a blob without a record gets a whole TTL", async () => {
  await using env = await lifecycleEnv();
  const { sweeper, put, exists } = setup(env, { memory: DAY, inbound: null });
  const inbox = inboundLocation(A, "m1");
  const mem = memoryLocation(A, "ns", "before-ttl");
  await put(inbox, "x", env.store);
  await put(mem, "x", env.store); // written before the TTL was on: no access record
  env.clock.advance(30 * DAY);
  const first = await sweeper.sweep();
  assertEquals([first.deleted, first.first_seen], [0, 1]);
  env.clock.advance(DAY - 1000);
  assertEquals((await sweeper.sweep()).deleted, 0);
  env.clock.advance(1000);
  assertEquals((await sweeper.sweep()).deleted, 1);
  assertEquals([await exists(mem), await exists(inbox)], [false, true]);
});

/** A store whose `get` or `delete` lets a writer in at the worst moment. */
function racing(inner: BlobStore, at: "get" | "delete", write: () => Promise<void>): BlobStore {
  let done = false;
  const once = async () => {
    if (!done) {
      done = true;
      await write();
    }
  };
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === "get" && at === "get") {
        return async (key: string) => {
          // Written after the sweep's first look at the access time, before it reads the blob:
          // only the access time read after the blob tells.
          await once();
          return await target.get(key);
        };
      }
      if (prop === "delete" && at === "delete") {
        return async (key: string, c?: { ifMatch?: string }) => {
          await once(); // written between the sweep's checks and its delete
          return await target.delete(key, c);
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

for (const at of ["get", "delete"] as const) {
  Deno.test(`never a blob written during the sweep (write at the sweep's ${at})`, async () => {
    await using env = await lifecycleEnv();
    const { worker, put, sweeperOver } = setup(env);
    const mem = memoryLocation(A, "notes", "busy");
    await put(mem, "old");
    env.clock.advance(2 * DAY);
    const store = racing(env.store, at, () => put(mem, "new", worker));
    const sweeper = sweeperOver(store);
    const r = await sweeper.sweep();
    assertEquals([r.deleted, r.changed], [0, 1]);
    assertEquals((await env.read(mem.key)).plaintext, "new");
    assertEquals((await env.entries("ttl_swept")).length, 0);
  });
}

Deno.test("the scheduler runs the sweep as a step; a crash between delete and tombstone still leaves one", async () => {
  await using env = await lifecycleEnv({
    policy: { ttlMemoryMs: DAY, rotateEveryMs: null },
  });
  const { sweeper, put } = setup(env, { memory: DAY, inbound: null });
  const s = env.another("sweeper", { sweeper });
  const mem = memoryLocation(A, "n", "a");
  await put(mem, "x");
  const first = await s.tick();
  assertEquals([first.step, first.outcome], ["sweep", "done"]);
  // Not again before a quarter of the TTL, capped at an hour.
  env.clock.advance(HOUR - 1000);
  assertEquals(await s.tick(), { holder: true });
  env.clock.advance(DAY);
  assertEquals((await s.tick()).step, "sweep");
  assertEquals((await env.entries("ttl_swept")).length, 1);

  // A pass that died right after deleting `b` (the write-ahead record names it).
  const b = memoryLocation(A, "n", "b");
  await put(b, "x");
  await s.store.update((st) => {
    st.running = {
      step: "sweep",
      started_at: env.clock.now().toISOString(),
      holder: "dead",
      deleting: { key: b.key, class: "memory", idle_seconds: 90000, ttl_seconds: 86400 },
    };
  });
  await env.store.delete(b.key);
  await s.tick();
  const tombstones = await env.entries("ttl_swept");
  assertEquals(tombstones.length, 2);
  assertEquals([tombstones[1].key, tombstones[1].after_crash], [b.key, true]);
  assertEquals((await s.store.read()).running, null);
});

Deno.test("a blob the integrity check refuses is kept and counted; the sweep goes on with the rest", async () => {
  await using env = await lifecycleEnv();
  const { touches, put, exists, sweeperOver } = setup(env);
  const pointers = new KvPointerStore(env.kv);
  const store = new IntegrityStore(env.store, { pointers });
  const [bad, ok1, ok2] = ["a", "b", "c"].map((n) => memoryLocation(A, "notes", n));
  for (const loc of [bad, ok1, ok2]) {
    await put(
      loc,
      "x",
      new TouchingStore(store, touches, TTLS, () => env.clock.ms),
    );
  }
  // The first in listing order is tampered with below the integrity layer.
  const raw = (await env.store.get(bad.key))!.body;
  raw[raw.length - 1] ^= 1;
  await env.store.put(bad.key, raw);
  env.clock.advance(2 * DAY);
  const sweeper = sweeperOver(store);
  // Was: IntegrityMismatch out of the pass, every pass, so nothing after `bad` was ever swept.
  const r = await sweeper.sweep();
  assertEquals([r.deleted, r.refused], [2, 1]);
  assertEquals([await exists(bad), await exists(ok1), await exists(ok2)], [true, false, false]);
});
