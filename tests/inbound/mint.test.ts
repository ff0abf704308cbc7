/**
 * Inbound caps through the broker (issue 13): the operator's session writes into its agent's
 * inbox, the agent reads and clears its own, and nobody reaches another agent's inbox.
 */

import { assertEquals } from "../support/assert.ts";
import { newAccount, testService } from "../support/broker_harness.ts";
import { b64 } from "../support/harness.ts";

async function setup() {
  const s = await testService();
  const operator = newAccount();
  const deviceA = newAccount();
  const deviceB = newAccount();
  const a = s.identity.register(operator.address, "mail-bot", deviceA.address);
  const b = s.identity.register(operator.address, "cal-bot", deviceB.address);
  const opToken = await s.loginOperator(operator);
  const aToken = await s.loginDevice(deviceA);
  const bToken = await s.loginDevice(deviceB);
  const to = (agent: typeof a) => ({
    operator_omni: agent.operatorOmni,
    actor_omni: agent.actorOmni,
  });
  return { s, a, b, opToken, aToken, bToken, to };
}

Deno.test("inbound: the operator delivers to its agent; the agent lists, reads and clears its inbox", async () => {
  const { s, a, opToken, aToken, to } = await setup();
  await using _ = s;
  const put = await s.call("POST", "/v1/cap/inbound-put", opToken, to(a));
  assertEquals(put.status, 200);
  const stored = await s.call("POST", "/v1/inbound/put", put.body.cap as string, {
    plaintext_b64: b64("Subject: hi"),
  });
  assertEquals(stored.status, 200);
  const get = await s.call("POST", "/v1/cap/inbound-get", aToken, to(a));
  assertEquals(get.status, 200);
  const list = await s.call("POST", "/v1/inbound/list", get.body.cap as string, {});
  const items = list.body.items as { message_id: string }[];
  assertEquals(items.map((i) => i.message_id), [stored.body.message_id]);
  const read = await s.call("POST", "/v1/inbound/get", get.body.cap as string, {
    message_id: stored.body.message_id,
  });
  assertEquals(read.body.plaintext_b64, b64("Subject: hi"));
  const rm = await s.call("POST", "/v1/cap/inbound-teardown", aToken, to(a));
  const cleared = await s.call("POST", "/v1/inbound/teardown", rm.body.cap as string, {});
  assertEquals(cleared.body, { deleted: 1 });
});

Deno.test("inbound refused: an agent writing its own inbox, or minting for another agent's (403)", async () => {
  const { s, a, b, aToken, to } = await setup();
  await using _ = s;
  const selfPut = await s.call("POST", "/v1/cap/inbound-put", aToken, to(a));
  assertEquals([selfPut.status, selfPut.body.error], [403, "forbidden"]);
  for (const kind of ["inbound-get", "inbound-teardown", "inbound-put"]) {
    const other = await s.call("POST", `/v1/cap/${kind}`, aToken, to(b));
    assertEquals([other.status, other.body.error], [403, "forbidden"], kind);
  }
});

Deno.test("inbound refused: a revoked agent's cap at the worker; another operator's agent at mint", async () => {
  const { s, a, opToken, aToken, to } = await setup();
  await using _ = s;
  const get = await s.call("POST", "/v1/cap/inbound-get", aToken, to(a));
  s.identity.revoke(a.deviceKeyHash);
  const read = await s.call("POST", "/v1/inbound/list", get.body.cap as string, {});
  assertEquals([read.status, read.body.error], [403, "out_of_scope"]);
  const stranger = newAccount();
  const foreign = s.identity.register(stranger.address, "x", newAccount().address);
  const mint = await s.call("POST", "/v1/cap/inbound-put", opToken, {
    operator_omni: a.operatorOmni,
    actor_omni: foreign.actorOmni,
  });
  assertEquals(mint.status, 403);
});
