import { assert, assertEquals } from "../support/assert.ts";
import { ACTOR, OPERATOR, testCapKey } from "../support/caps.ts";
import { VaultWorker } from "../../lib/worker/mod.ts";
import { LIMITS } from "../support/harness.ts";
import { NO_CHAIN_AUTHORITY } from "../support/worker_deps.ts";
import { SessionDenylist } from "../../lib/state/mod.ts";
import { makeEnv } from "./fixture.ts";

Deno.test("vault: stores and lazy re-wraps are recorded in the write ledger", async () => {
  await using env = await makeEnv();
  const caps = await testCapKey();
  const worker = new VaultWorker({
    store: env.store,
    keys: env.keystore,
    state: env.state,
    capKeys: caps.keys,
    limits: LIMITS,
    authority: NO_CHAIN_AUTHORITY,
    ledger: env.ledger,
    sessions: new SessionDenylist(env.state),
  });
  assertEquals(await env.ledger.lastWrite(1), undefined);
  const before = Date.now();
  await worker.credStore(await caps.mint({}), new TextEncoder().encode("sk-test"));
  const stored = await env.ledger.lastWrite(1);
  assert(stored !== undefined && stored.getTime() >= before, "the store was recorded under 1");
  assertEquals(await env.actors.actorsOf(OPERATOR), [OPERATOR, ACTOR]);
  await env.keystore.rotate();
  assertEquals(await env.ledger.lastWrite(2), undefined);
  const fetched = await worker.credFetch(await caps.mint({ op: "fetch" }));
  assertEquals(fetched.rewrapped, true);
  assert((await env.ledger.lastWrite(2)) !== undefined, "the lazy re-wrap was recorded under 2");
});
