/**
 * The proof routes' refusals (`GET /v1/cred|memory|inbound/proof`): no session 401, an agent's
 * device session 403, another operator's actor 403 `other_operator`, malformed names 400, and
 * 404 for a blob without a pointer — for the operator itself and for its registered agent.
 *
 * @module
 */

import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { assertEquals } from "../support/assert.ts";
import { testService } from "../support/broker_harness.ts";
import { operatorOmniOf } from "../../lib/identity/mod.ts";

Deno.test("proof routes: every refusal, for each data class", async () => {
  await using s = await testService();
  const operator = privateKeyToAccount(generatePrivateKey());
  const device = privateKeyToAccount(generatePrivateKey());
  const { actorOmni } = s.identity.register(operator.address, "mail-bot", device.address);
  const other = s.identity.register(
    privateKeyToAccount(generatePrivateKey()).address,
    "x",
    privateKeyToAccount(generatePrivateKey()).address,
  ).actorOmni;
  const me = operatorOmniOf(operator.address);
  const token = await s.loginOperator(operator);
  const get = (path: string, t?: string) => s.call("GET", path, t);

  assertEquals((await get(`/v1/cred/proof?actor_omni=${me}&service=openai`)).status, 401);
  for (const actor of [me, actorOmni]) {
    const paths = [
      `/v1/cred/proof?actor_omni=${actor}&service=openai`,
      `/v1/memory/proof?actor_omni=${actor}&namespace=notes&name=a`,
      `/v1/inbound/proof?actor_omni=${actor}&message_id=m1`,
    ];
    for (const p of paths) {
      const r = await get(p, token);
      assertEquals([r.status, r.body.error], [404, "not_found"], p);
    }
  }
  const refusals: [string, number, string][] = [
    [`/v1/cred/proof?actor_omni=${other}&service=openai`, 403, "other_operator"],
    [`/v1/memory/proof?actor_omni=${other}&namespace=n&name=a`, 403, "other_operator"],
    [`/v1/inbound/proof?actor_omni=${other}&message_id=m1`, 403, "other_operator"],
    [`/v1/cred/proof?actor_omni=${me}&service=..`, 400, "bad_request"],
    [`/v1/cred/proof?actor_omni=${me}`, 400, "bad_request"],
    [`/v1/memory/proof?actor_omni=${me}&namespace=notes`, 400, "bad_request"],
    [`/v1/inbound/proof?actor_omni=${me}&message_id=A%2FB`, 400, "bad_request"],
    [`/v1/cred/proof?actor_omni=0x12&service=openai`, 400, "bad_request"],
  ];
  for (const [p, status, error] of refusals) {
    const r = await get(p, token);
    assertEquals([r.status, r.body.error], [status, error], p);
  }
  // Proofs are the operator's view: an agent's device session is refused.
  const agentToken = await s.loginDevice(device);
  const r = await get(`/v1/cred/proof?actor_omni=${actorOmni}&service=openai`, agentToken);
  assertEquals(r.status, 403);
});
