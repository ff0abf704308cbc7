/**
 * The data class `keyring` under K3 rotation: the census counts ring records, member keys and
 * documents; a get re-wraps lazily; the eager job moves the rest; the old epoch can then be
 * destroyed and the ring still reads. The documents stay end-to-end encrypted throughout.
 */

import { KeyringMember, KeyringOperator, type KeyringTransport } from "../../lib/keyrings/mod.ts";
import { parseBlobKey } from "../../lib/worker/mod.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { newAccount, type TestService } from "../support/broker_harness.ts";
import { epochWorld } from "../routes/epochs_support.ts";

function transport(s: TestService, session: string): KeyringTransport {
  return {
    async call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
      const r = await s.call(method, path, token ?? session, body);
      if (r.status !== 200) throw new Error(`${path}: ${JSON.stringify(r.body)}`);
      return r.body as T;
    },
  };
}

async function keyringBlobsByEpoch(s: TestService): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for await (const info of s.store.list("bots/")) {
    if (parseBlobKey(info.key)?.dataClass !== "keyring") continue;
    const head = await s.store.getRange(info.key, 0, 0);
    const epoch = s.keystore.epochForTag(head!.body[0]);
    counts[epoch] = (counts[epoch] ?? 0) + 1;
  }
  return counts;
}

Deno.test("keyring blobs: census, lazy and eager re-encryption, destroy of the old epoch", async () => {
  await using w = await epochWorld();
  const { s } = w;
  const op = await KeyringOperator.forWallet(transport(s, w.operator.token), w.operator.account);
  const device = newAccount();
  const reg = s.identity.register(w.operator.account.address, "reader", device.address);
  const agentSession = await s.loginDevice(device);
  const agent = await KeyringMember.open(
    transport(s, agentSession),
    { operator_omni: reg.operatorOmni, actor_omni: reg.actorOmni },
    device,
  );
  await agent.publishKey();
  await op.create("team");
  await op.add("team", reg.actorOmni, { deviceKeyHash: reg.deviceKeyHash });
  await agent.put("team", "a", new TextEncoder().encode("A"));
  await agent.put("team", "b", new TextEncoder().encode("B"));
  // record + 2 member keys + 2 documents, all at epoch 1.
  assertEquals(await keyringBlobsByEpoch(s), { 1: 5 });
  const census = await s.call("POST", "/v1/epochs/census", w.operator.token, {});
  assertEquals(census.status, 200);
  const operatorCounts = (census.body.census as { operator: Record<string, number> }).operator;
  assert((operatorCounts["1"] ?? 0) >= 5, JSON.stringify(operatorCounts));

  assertEquals((await s.call("POST", "/v1/epochs/rotate", w.admin.token)).status, 200);
  // Lazy: reading document a (and the record, by the worker's membership check) re-wraps them.
  assertEquals(new TextDecoder().decode(await agent.get("team", "a")), "A");
  const lazy = await keyringBlobsByEpoch(s);
  assert((lazy[2] ?? 0) >= 2, JSON.stringify(lazy));

  // Eager: the job moves the rest of the operator's blobs, keyring ones included.
  const job = await s.call("POST", "/v1/reencrypt/jobs", w.operator.token, {
    operator_omni: w.operator.omni,
    old_epoch: 1,
    new_epoch: 2,
    dry_run: false,
  });
  assertEquals(job.status, 201);
  const done = await s.epochs!.runner.wait(job.body.job_id as string);
  assertEquals([done.state, done.counts.failed], ["succeeded", 0]);
  assertEquals(await keyringBlobsByEpoch(s), { 2: 5 });

  // A global census proves epoch 1 empty; it is destroyed; the ring still reads.
  const global = await s.call("POST", "/v1/epochs/census", w.admin.token, { scope: "global" });
  assertEquals(global.status, 200);
  const destroyed = await s.call("POST", "/v1/epochs/1/destroy", w.admin.token, {});
  assertEquals(destroyed.status, 200, JSON.stringify(destroyed.body));
  assertEquals(new TextDecoder().decode(await agent.get("team", "b")), "B");
  assertEquals((await op.record("team")).members.length, 2);
});
