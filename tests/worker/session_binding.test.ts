/**
 * Caps are bound to the session that minted them (`sid`): a logout refuses them at the worker,
 * not only new mints at the broker.
 */

import { assertEquals } from "../support/assert.ts";
import { newAccount, testService } from "../support/broker_harness.ts";
import { b64 } from "../support/harness.ts";

async function setup() {
  const s = await testService();
  const operator = newAccount();
  const device = newAccount();
  const agent = s.identity.register(operator.address, "mail-bot", device.address);
  s.identity.setScope(agent.operatorOmni, agent.actorOmni, ["openai"]);
  const grant = {
    operator_omni: agent.operatorOmni,
    actor_omni: agent.actorOmni,
    service: "openai",
  };
  const mint = async (session: string, kind: string) => {
    const r = await s.call("POST", `/v1/cap/${kind}`, session, grant);
    assertEquals(r.status, 200, JSON.stringify(r.body));
    return r.body.cap as string;
  };
  return { s, operator, device, mint };
}

Deno.test("after logout, caps the session minted are refused by the worker with 401 session_revoked", async () => {
  const { s, operator, device, mint } = await setup();
  await using _ = s;
  const op = await s.loginOperator(operator);
  const stored = await s.call("POST", "/v1/cred/store", await mint(op, "cred-store"), {
    plaintext_b64: b64("sk-1"),
  });
  assertEquals(stored.status, 200);
  const agent = await s.loginDevice(device);
  const fetchCap = await mint(agent, "cred-fetch");
  const storeCap = await mint(op, "cred-store");
  const teardownCap = await mint(op, "cred-teardown");
  // The fetch cap works (and is now in every cache) before the logout.
  assertEquals((await s.call("POST", "/v1/cred/fetch", fetchCap, {})).status, 200);

  assertEquals((await s.call("POST", "/v1/auth/logout", agent)).status, 200);
  const fetched = await s.call("POST", "/v1/cred/fetch", fetchCap, {});
  assertEquals([fetched.status, fetched.body.error], [401, "session_revoked"]);

  assertEquals((await s.call("POST", "/v1/auth/logout", op)).status, 200);
  const store = await s.call("POST", "/v1/cred/store", storeCap, { plaintext_b64: b64("sk-2") });
  assertEquals([store.status, store.body.error], [401, "session_revoked"]);
  const teardown = await s.call("POST", "/v1/cred/teardown", teardownCap, {});
  assertEquals([teardown.status, teardown.body.error], [401, "session_revoked"]);
});

Deno.test("a logout revokes only that session's caps; another session of the same operator keeps working", async () => {
  const { s, operator, mint } = await setup();
  await using _ = s;
  const first = await s.loginOperator(operator);
  const second = await s.loginOperator(operator);
  await s.call("POST", "/v1/cred/store", await mint(first, "cred-store"), {
    plaintext_b64: b64("sk-1"),
  });
  const capOfFirst = await mint(first, "cred-fetch");
  const capOfSecond = await mint(second, "cred-fetch");
  await s.call("POST", "/v1/auth/logout", first);
  const refused = await s.call("POST", "/v1/cred/fetch", capOfFirst, {});
  assertEquals([refused.status, refused.body.error], [401, "session_revoked"]);
  const kept = await s.call("POST", "/v1/cred/fetch", capOfSecond, {});
  assertEquals([kept.status, kept.body.plaintext_b64], [200, b64("sk-1")]);
});
