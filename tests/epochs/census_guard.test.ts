import { assert, assertEquals, assertMatch, assertRejects } from "../support/assert.ts";
import { FaultyStore } from "../support/faulty_store.ts";
import { runReencrypt } from "../../lib/reencrypt/mod.ts";
import { EpochInUse } from "../../lib/epochs/mod.ts";
import { takeCensus } from "../../lib/epochs/_census.ts";
import { censusDestroyGuard, checkEpochEmpty } from "../../lib/epochs/_guard.ts";
import { StoreCredentialsExpired } from "../../lib/store/mod.ts";
import { credentialLocation } from "../../lib/worker/mod.ts";
import {
  AGENT_1,
  CountingStore,
  makeEnv,
  mixedFixture,
  OPERATOR,
  simpleFixture,
} from "../reencrypt/fixture.ts";

Deno.test("census: counts per epoch globally and for the operator, one byte per blob but credentials under tags 1 and 2", async () => {
  await using env = await makeEnv();
  await mixedFixture(env);
  const counting = new CountingStore(env.store);
  const census = await takeCensus({
    store: counting,
    keys: env.keystore,
    operatorOmni: OPERATOR,
    actors: env.actors,
    concurrency: 3,
  });
  // Epoch 1: 3 (credentials named "legacy"); 2: 15 old + malformed + foreign; 3: 3 fresh;
  // short: unknown. The tampered epoch-2 credential does not authenticate under epoch 2, so it
  // counts as "legacy" (issue 13: indistinguishable from a wallet-keyed blob at that key).
  assertEquals(census.global, { "1": 3, "2": 17, "3": 3, unknown: 1, legacy: 1 });
  assertEquals(census.operator, { "1": 3, "2": 16, "3": 3, unknown: 1, legacy: 1 });
  assertEquals(census.scope, "global");
  // Whole reads only for credentials whose first byte is 1 or 2 (3 + 6 old + foreign +
  // tampered); memory, inbound and epoch-3 credentials stay 1-byte reads.
  assertEquals(counting.counts.get, 11);
  assertEquals(counting.counts.getRange, 25);
  assert(Date.parse(census.taken_at) <= Date.parse(census.finished_at));
});

Deno.test("census: operator scope lists only the operator's actors", async () => {
  await using env = await makeEnv();
  await mixedFixture(env);
  const census = await takeCensus({
    store: env.store,
    keys: env.keystore,
    operatorOmni: OPERATOR,
    actors: env.actors,
    scope: "operator",
  });
  assertEquals(census.global, undefined);
  assertEquals(census.operator, { "1": 3, "2": 16, "3": 3, unknown: 1, legacy: 1 });
});

Deno.test("census: a destroyed epoch's blobs count as destroyed", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 4); // epoch 1 blobs, 2 active
  await env.keystore.destroy(1);
  const census = await takeCensus({ store: env.store, keys: env.keystore });
  assertEquals(census.global, { destroyed: 4 });
});

Deno.test("census: any failed read fails the whole census (no partial counts)", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 10);
  const faulty = new FaultyStore(env.store, {
    fail: (_op, _key, n) => (n === 5 ? new StoreCredentialsExpired("ExpiredToken") : undefined),
  });
  await assertRejects(
    () => takeCensus({ store: faulty, keys: env.keystore }),
    StoreCredentialsExpired,
  );
});

Deno.test("guard: refuses without a census, before the last write, or with blobs left", () => {
  const census = (taken_at: string, global: Record<string, number>) => ({
    taken_at,
    finished_at: taken_at,
    scope: "global" as const,
    global,
  });
  const none = checkEpochEmpty(1, null, undefined)!;
  assertEquals([none.code, none.reason], ["epoch_in_use", "no_census"]);
  const stale = checkEpochEmpty(
    1,
    census("2026-01-01T00:00:00.000Z", { "2": 5 }),
    new Date("2026-01-01T00:00:01.000Z"),
  )!;
  assertEquals([stale.reason, stale.lastWriteAt], [
    "census_before_last_write",
    "2026-01-01T00:00:01.000Z",
  ]);
  const full = checkEpochEmpty(
    1,
    census("2026-01-02T00:00:00.000Z", { "1": 7, "2": 5 }),
    undefined,
  )!;
  assertEquals([full.reason, full.count, full.census?.global], ["blobs_remain", 7, {
    "1": 7,
    "2": 5,
  }]);
  assertMatch(full.message, /still holds 7 blob/);
  assertEquals(
    checkEpochEmpty(
      1,
      census("2026-01-02T00:00:00.000Z", { "2": 5 }),
      new Date("2026-01-01T00:00:00.000Z"),
    ),
    undefined,
  );
});

Deno.test("guard: the keystore refuses to destroy with counts, passes after re-encryption and a post-write census", async () => {
  await using env = await makeEnv();
  const keys = await simpleFixture(env, 12); // epoch 1 retiring, 2 active
  const guard = censusDestroyGuard({ censusStore: env.censusStore, ledger: env.ledger });
  // No census yet.
  let refusal = await assertRejects(
    () => env.keystore.destroy(1, { guard }),
    EpochInUse,
  ) as EpochInUse;
  assertEquals(refusal.reason, "no_census");
  // A census with blobs left under epoch 1.
  await env.censusStore.save(await takeCensus({ store: env.store, keys: env.keystore }));
  refusal = await assertRejects(() => env.keystore.destroy(1, { guard }), EpochInUse) as EpochInUse;
  assertEquals([refusal.reason, refusal.count, refusal.census?.global], ["blobs_remain", 12, {
    "1": 12,
  }]);
  // A census proving zero, but then a late write under epoch 1 (a writer that sealed before the
  // rotation): the census no longer proves anything.
  await runReencrypt({ operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2 }, {
    store: env.store,
    keys: env.keystore,
    actors: env.actors,
    ledger: env.ledger,
  }, () => {});
  await env.censusStore.save(await takeCensus({ store: env.store, keys: env.keystore }));
  await new Promise((r) => setTimeout(r, 5));
  const late = credentialLocation(AGENT_1.slice(2), "late");
  await env.write(late, "sealed before the rotation", 1);
  await env.ledger.recordWrite({ epoch: 1, operatorOmni: OPERATOR, actorOmni: AGENT_1 });
  refusal = await assertRejects(() => env.keystore.destroy(1, { guard }), EpochInUse) as EpochInUse;
  assertEquals(refusal.reason, "census_before_last_write");
  // Moving the late blob and taking a new census makes it pass.
  await runReencrypt({ operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2 }, {
    store: env.store,
    keys: env.keystore,
    actors: env.actors,
    ledger: env.ledger,
  }, () => {});
  await new Promise((r) => setTimeout(r, 5));
  const census = await takeCensus({ store: env.store, keys: env.keystore });
  assertEquals(census.global, { "2": 13 });
  await env.censusStore.save(census);
  const destroyed = await env.keystore.destroy(1, { guard });
  assertEquals(destroyed.state, "destroyed");
  for (const key of keys) assertEquals((await env.read(key)).epoch, 2);
});
