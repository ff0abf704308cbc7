import { assertEquals } from "../support/assert.ts";
import { KvStateStore } from "../../lib/state/mod.ts";

Deno.test("claimOnce: the first claim wins, later ones lose until expiry", async () => {
  let now = 1_000_000;
  const state = await KvStateStore.open(undefined, () => now);
  try {
    assertEquals(await state.claimOnce("cap", "j1", now + 5000), true);
    assertEquals(await state.claimOnce("cap", "j1", now + 5000), false);
    assertEquals(await state.claimOnce("other", "j1", now + 5000), true, "scopes are separate");
    now += 6000;
    assertEquals(
      await state.claimOnce("cap", "j1", now + 5000),
      true,
      "expired claims free the id",
    );
  } finally {
    state.close();
  }
});

Deno.test("claimOnce: 50 concurrent claims of one id, exactly one wins", async () => {
  const state = await KvStateStore.open();
  try {
    const results = await Promise.all(
      Array.from({ length: 50 }, () => state.claimOnce("cap", "race", Date.now() + 60_000)),
    );
    assertEquals(results.filter(Boolean).length, 1);
  } finally {
    state.close();
  }
});
