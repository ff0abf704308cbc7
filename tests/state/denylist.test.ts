/** The session denylist's caches: a local logout is known at once, a remote one within freshMs. */

import { assertEquals } from "../support/assert.ts";
import { KvStateStore, SessionDenylist } from "../../lib/state/mod.ts";

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

Deno.test("a logout by another instance (another process) is seen once the cached answer is older than freshMs", async () => {
  const state = await KvStateStore.open();
  try {
    let now = 1_000_000;
    const worker = new SessionDenylist(state, { freshMs: 1000, now: () => now });
    const broker = new SessionDenylist(state);
    assertEquals(await worker.isRevoked(SID), false);
    await broker.revoke(SID, Date.now() + 60_000);
    now += 999;
    assertEquals(await worker.isRevoked(SID), false, "still within the cached answer");
    now += 1;
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
