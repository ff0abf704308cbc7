import { assertEquals } from "../support/assert.ts";
import { KvChallengeStore } from "../../lib/state/mod.ts";

async function unusedEntries(kv: Deno.Kv): Promise<number> {
  let n = 0;
  for await (const e of kv.list<{ used: boolean }>({ prefix: ["challenge"] })) {
    if (!e.value.used) n++;
  }
  return n;
}

Deno.test("challenges: at most maxPending pending; the oldest is evicted and reads unknown", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    let now = 1_000_000;
    const store = new KvChallengeStore(kv, () => now, 3);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await store.create(i % 2 ? "siwe" : "device", { i }, now + 600_000));
    }
    assertEquals(store.pending, 3);
    assertEquals(await unusedEntries(kv), 3, "evicted challenges are deleted from KV");
    assertEquals((await store.consume("device", ids[0])).status, "unknown");
    assertEquals((await store.consume("siwe", ids[1])).status, "unknown");
    assertEquals(await store.consume("device", ids[2]), { status: "ok", value: { i: 2 } });
    // A consumed challenge no longer counts: two more fit without evicting anything.
    assertEquals(store.pending, 2);
    ids.push(await store.create("siwe", { i: 5 }, now + 600_000));
    assertEquals(store.pending, 3);
    assertEquals((await store.consume("siwe", ids[3])).status, "ok");
    // Expired challenges leave the count (and stay in KV to read "expired").
    now += 600_001;
    ids.push(await store.create("siwe", { i: 6 }, now + 600_000));
    assertEquals(store.pending, 1);
    assertEquals((await store.consume("device", ids[4])).status, "expired");
    assertEquals((await store.consume("siwe", ids[6])).status, "ok");
  } finally {
    kv.close();
  }
});
