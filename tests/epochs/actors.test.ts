import { assertEquals, assertRejects } from "../support/assert.ts";
import { ChainActorDirectory, UnionActorDirectory } from "../../lib/epochs/_actors.ts";
import { KvActorIndex, KvStateStore } from "../../lib/state/mod.ts";
import { FakeIdentity } from "../support/fake_identity.ts";
import { newAccount } from "../support/broker_harness.ts";
import { operatorOmniOf } from "../../lib/identity/mod.ts";

Deno.test("chain directory: the operator and every registered agent, revoked ones included", async () => {
  const identity = new FakeIdentity();
  const operator = newAccount();
  const a = identity.register(operator.address, "a", newAccount().address);
  const b = identity.register(operator.address, "b", newAccount().address);
  identity.revoke(b.deviceKeyHash);
  identity.register(newAccount().address, "other", newAccount().address);
  const actors = await new ChainActorDirectory(identity).actorsOf(a.operatorOmni);
  assertEquals(actors, [a.operatorOmni, a.actorOmni, b.actorOmni]);
  const lonely = operatorOmniOf(newAccount().address);
  assertEquals(await new ChainActorDirectory(identity).actorsOf(lonely), [lonely]);
  await assertRejects(() => new ChainActorDirectory(identity).actorsOf("0x12"), TypeError);
});

Deno.test("union directory: chain ∪ KV index, once each, chain order first; a failure fails it", async () => {
  const identity = new FakeIdentity();
  const operator = newAccount();
  const agent = identity.register(operator.address, "a", newAccount().address);
  const state = await KvStateStore.open();
  try {
    const index = new KvActorIndex(state.kv);
    const wroteOnly = "0x" + "7e".repeat(32);
    await index.record(agent.operatorOmni, agent.actorOmni);
    await index.record(agent.operatorOmni, wroteOnly);
    const union = new UnionActorDirectory([new ChainActorDirectory(identity), index]);
    assertEquals(await union.actorsOf(agent.operatorOmni), [
      agent.operatorOmni,
      agent.actorOmni,
      wroteOnly,
    ]);
    const broken = new UnionActorDirectory([
      { actorsOf: () => Promise.reject(new Error("chain down")) },
      index,
    ]);
    await assertRejects(() => broken.actorsOf(agent.operatorOmni), Error, "chain down");
  } finally {
    state.close();
  }
});
