/**
 * The session denylist's caches: a logout anywhere on the same KV file is known at once (the
 * change counter); on a state store without one, another instance's logout within freshMs.
 */

import { join } from "node:path";
import { assertEquals } from "../support/assert.ts";
import { KvStateStore, SessionDenylist } from "../../lib/state/mod.ts";
import { tempDir } from "../support/tmp.ts";

const STATE_MOD = new URL("../../lib/state/mod.ts", import.meta.url).href;

const SID = "ab".repeat(16);

Deno.test("a logout through the same denylist is known at once, even right after a 'not revoked' answer", async () => {
  const state = await KvStateStore.open();
  try {
    const denylist = new SessionDenylist(state, { freshMs: 60_000 });
    assertEquals(await denylist.isRevoked(SID), false);
    await denylist.revoke(SID, Date.now() + 60_000);
    assertEquals(await denylist.isRevoked(SID), true);
    assertEquals(await denylist.isRevoked("cd".repeat(16)), false);
  } finally {
    state.close();
  }
});

Deno.test("without a change counter (a custom state store), another instance's logout is seen once the cached answer is older than freshMs", async () => {
  const state = await KvStateStore.open();
  try {
    let now = 1_000_000;
    const bare = {
      claimOnce: state.claimOnce.bind(state),
      isClaimed: state.isClaimed.bind(state),
      close: () => {},
    };
    const worker = new SessionDenylist(bare, { freshMs: 1000, now: () => now });
    const broker = new SessionDenylist(bare);
    assertEquals(await worker.isRevoked(SID), false);
    await broker.revoke(SID, Date.now() + 60_000);
    assertEquals(
      await worker.isRevoked(SID, { maxAgeMs: 0 }),
      true,
      "the broker's way: read again",
    );
    now += 999;
    assertEquals(await worker.isRevoked(SID), false, "still within the cached answer");
    now += 1;
    assertEquals(await worker.isRevoked(SID), true);
  } finally {
    state.close();
  }
});

Deno.test("with the KV state store's change counter, another instance's logout is seen at once: same store, and another store on the same file", async () => {
  await using tmp = await tempDir("agentkeys-denylist-");
  const path = join(tmp.path, "state.kv");
  const one = await KvStateStore.open(path);
  const other = await KvStateStore.open(path); // what a second process opens
  try {
    const worker = new SessionDenylist(one, { freshMs: 3_600_000 });
    const broker = new SessionDenylist(one, { freshMs: 3_600_000 });
    const elsewhere = new SessionDenylist(other, { freshMs: 3_600_000 });
    const [a, b] = ["a1".repeat(16), "b2".repeat(16)];
    assertEquals([await worker.isRevoked(a), await worker.isRevoked(b)], [false, false]);
    await broker.revoke(a, Date.now() + 60_000);
    assertEquals(await worker.isRevoked(a), true, "same store: the cached answer was dropped");
    assertEquals(await elsewhere.isRevoked(b), false);
    await worker.revoke(b, Date.now() + 60_000);
    assertEquals(await elsewhere.isRevoked(b), true, "other store: the counter file moved");
  } finally {
    one.close();
    other.close();
  }
});

Deno.test("a logout in another process reaches this process's cached answer at once", async () => {
  await using tmp = await tempDir("agentkeys-denylist-");
  const path = join(tmp.path, "state.kv");
  const state = await KvStateStore.open(path);
  try {
    const worker = new SessionDenylist(state, { freshMs: 3_600_000 });
    assertEquals(await worker.isRevoked(SID), false);
    const code = `
      import { KvStateStore, SessionDenylist } from ${JSON.stringify(STATE_MOD)};
      const state = await KvStateStore.open(${JSON.stringify(path)});
      await new SessionDenylist(state).revoke(${JSON.stringify(SID)}, Date.now() + 60_000);
      state.close();`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--unstable-kv", code],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    assertEquals(out.code, 0);
    assertEquals(await worker.isRevoked(SID), true);
  } finally {
    state.close();
  }
});

Deno.test("the 'not revoked' cache is bounded: the oldest answers are dropped", async () => {
  let reads = 0;
  const state = await KvStateStore.open();
  try {
    const counting = {
      claimOnce: state.claimOnce.bind(state),
      isClaimed: (scope: string, id: string) => {
        reads++;
        return state.isClaimed(scope, id);
      },
      close: () => {},
    };
    const denylist = new SessionDenylist(counting, { freshMs: 60_000, maxEntries: 2 });
    for (const id of ["a", "b", "c"]) await denylist.isRevoked(id.repeat(32));
    assertEquals(reads, 3);
    await denylist.isRevoked("c".repeat(32)); // cached
    await denylist.isRevoked("b".repeat(32)); // cached
    assertEquals(reads, 3);
    await denylist.isRevoked("a".repeat(32)); // dropped: read again
    assertEquals(reads, 4);
  } finally {
    state.close();
  }
});
