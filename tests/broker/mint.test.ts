/**
 * Cap minting (§7 checks in order) and the worker's chain re-check, end to end over HTTP:
 * operator stores, agent fetches; every refusal of the identity issue with its status.
 */

import { assertEquals } from "../support/assert.ts";
import { newAccount, testService } from "../support/broker_harness.ts";
import { b64 } from "../support/harness.ts";

async function setup() {
  const s = await testService();
  const operator = newAccount();
  const device = newAccount();
  const agent = s.identity.register(operator.address, "mail-bot", device.address);
  s.identity.setScope(agent.operatorOmni, agent.actorOmni, ["openai", "github"]);
  const opToken = await s.loginOperator(operator);
  const agentToken = await s.loginDevice(device);
  const grant = (service = "openai") => ({
    operator_omni: agent.operatorOmni,
    actor_omni: agent.actorOmni,
    service,
  });
  return { s, operator, device, agent, opToken, agentToken, grant };
}

Deno.test("operator stores a credential for its agent; the agent fetches it with its own cap", async () => {
  const { s, opToken, agentToken, grant } = await setup();
  await using _ = s;
  const store = await s.call("POST", "/v1/cap/cred-store", opToken, grant());
  assertEquals(store.status, 200);
  assertEquals(store.body.k3_epoch, 1);
  const stored = await s.call("POST", "/v1/cred/store", store.body.cap as string, {
    plaintext_b64: b64("sk-openai"),
  });
  assertEquals(stored.status, 200);
  const fetchCap = await s.call("POST", "/v1/cap/cred-fetch", agentToken, grant());
  assertEquals(fetchCap.status, 200);
  const fetched = await s.call("POST", "/v1/cred/fetch", fetchCap.body.cap as string, {});
  assertEquals(fetched.body.plaintext_b64, b64("sk-openai"));
  // A replayed store cap is refused by the worker.
  const replay = await s.call("POST", "/v1/cred/store", store.body.cap as string, {
    plaintext_b64: b64("again"),
  });
  assertEquals([replay.status, replay.body.error], [401, "cap_replayed"]);
});

Deno.test("the operator's own data needs no agent, and memory caps work for agents", async () => {
  const { s, opToken, agentToken, agent } = await setup();
  await using _ = s;
  const own = {
    operator_omni: agent.operatorOmni,
    actor_omni: agent.operatorOmni,
    service: "stripe",
  };
  const cap = await s.call("POST", "/v1/cap/cred-store", opToken, own);
  assertEquals(cap.status, 200);
  assertEquals(
    (await s.call("POST", "/v1/cred/store", cap.body.cap as string, { plaintext_b64: b64("sk") }))
      .status,
    200,
  );
  const mem = {
    operator_omni: agent.operatorOmni,
    actor_omni: agent.actorOmni,
    namespace: "notes",
  };
  const put = await s.call("POST", "/v1/cap/memory-put", agentToken, mem);
  assertEquals(put.status, 200);
  const r = await s.call("POST", "/v1/memory/put", put.body.cap as string, {
    namespace: "notes",
    name: "a",
    plaintext_b64: b64("m"),
  });
  assertEquals(r.status, 200);
});

Deno.test("refused: a cap for another operator's agent", async () => {
  const { s, agent, grant } = await setup();
  await using _ = s;
  const stranger = await s.loginOperator(newAccount());
  const r = await s.call("POST", "/v1/cap/cred-store", stranger, grant());
  assertEquals([r.status, r.body.error], [403, "forbidden"]);
  // Claiming the agent under the stranger's own omni does not find it either.
  const strangerOmni = (await s.call("GET", "/v1/operators/me", stranger)).body.operator_omni;
  const r2 = await s.call("POST", "/v1/cap/cred-store", stranger, {
    ...grant(),
    operator_omni: strangerOmni,
  });
  assertEquals([r2.status, r2.body.error], [403, "agent_unknown"]);
  assertEquals(agent.operatorOmni !== strangerOmni, true);
});

Deno.test("refused: an agent session minting for another agent", async () => {
  const { s, operator, agentToken, agent } = await setup();
  await using _ = s;
  const other = s.identity.register(operator.address, "other-bot", newAccount().address);
  s.identity.setScope(other.operatorOmni, other.actorOmni, ["openai"]);
  const r = await s.call("POST", "/v1/cap/cred-fetch", agentToken, {
    operator_omni: agent.operatorOmni,
    actor_omni: other.actorOmni,
    service: "openai",
  });
  assertEquals([r.status, r.body.error], [403, "forbidden"]);
  const asOperator = await s.call("POST", "/v1/cap/cred-fetch", agentToken, {
    operator_omni: agent.operatorOmni,
    actor_omni: agent.operatorOmni,
    service: "openai",
  });
  assertEquals([asOperator.status, asOperator.body.error], [403, "forbidden"]);
});

Deno.test("refused: a device session older than 15 minutes", async () => {
  const { s, agentToken, grant } = await setup();
  await using _ = s;
  s.advance(15 * 60 * 1000 + 1000);
  const r = await s.call("POST", "/v1/cap/cred-fetch", agentToken, grant());
  assertEquals([r.status, r.body.error], [401, "session_expired"]);
});

Deno.test("refused: a service not in scope, at mint and at the worker after scope removal", async () => {
  const { s, opToken, agentToken, agent, grant } = await setup();
  await using _ = s;
  const r = await s.call("POST", "/v1/cap/cred-fetch", agentToken, grant("slack"));
  assertEquals([r.status, r.body.error], [403, "out_of_scope"]);
  const r2 = await s.call("POST", "/v1/cap/cred-store", opToken, grant("slack"));
  assertEquals([r2.status, r2.body.error], [403, "out_of_scope"]);

  const store = await s.call("POST", "/v1/cap/cred-store", opToken, grant("github"));
  await s.call("POST", "/v1/cred/store", store.body.cap as string, { plaintext_b64: b64("gh") });
  const fetchCap = (await s.call("POST", "/v1/cap/cred-fetch", agentToken, grant("github"))).body
    .cap as string;
  assertEquals((await s.call("POST", "/v1/cred/fetch", fetchCap, {})).status, 200);
  s.identity.setScope(agent.operatorOmni, agent.actorOmni, ["openai"]); // github removed
  const after = await s.call("POST", "/v1/cred/fetch", fetchCap, {});
  assertEquals([after.status, after.body.error], [403, "out_of_scope"]);
});

Deno.test("refused: store on a read-only scope (agent), while the operator may still write", async () => {
  const { s, opToken, agentToken, agent, grant } = await setup();
  await using _ = s;
  s.identity.setScope(agent.operatorOmni, agent.actorOmni, ["openai"], true);
  const r = await s.call("POST", "/v1/cap/cred-store", agentToken, grant());
  assertEquals([r.status, r.body.error], [403, "read_only"]);
  const td = await s.call("POST", "/v1/cap/cred-teardown", agentToken, grant());
  assertEquals([td.status, td.body.error], [403, "read_only"]);
  const op = await s.call("POST", "/v1/cap/cred-store", opToken, grant());
  assertEquals(op.status, 200);
  assertEquals(
    (await s.call("POST", "/v1/cred/store", op.body.cap as string, { plaintext_b64: b64("x") }))
      .status,
    200,
  );
  const fetchCap = await s.call("POST", "/v1/cap/cred-fetch", agentToken, grant());
  assertEquals(fetchCap.status, 200);
});

Deno.test("refused: a revoked device, at mint and at the worker for a cap minted before", async () => {
  const { s, opToken, agentToken, agent, grant } = await setup();
  await using _ = s;
  const store = await s.call("POST", "/v1/cap/cred-store", opToken, grant());
  await s.call("POST", "/v1/cred/store", store.body.cap as string, { plaintext_b64: b64("x") });
  const fetchCap = (await s.call("POST", "/v1/cap/cred-fetch", agentToken, grant())).body
    .cap as string;
  s.identity.revoke(agent.deviceKeyHash);
  const mint = await s.call("POST", "/v1/cap/cred-fetch", agentToken, grant());
  assertEquals([mint.status, mint.body.error], [403, "device_revoked"]);
  const opMint = await s.call("POST", "/v1/cap/cred-store", opToken, grant());
  assertEquals([opMint.status, opMint.body.error], [403, "device_revoked"]);
  const worker = await s.call("POST", "/v1/cred/fetch", fetchCap, {});
  assertEquals([worker.status, worker.body.error], [403, "out_of_scope"]);
});

Deno.test("bad mint requests are 400; no session is 401", async () => {
  const { s, opToken, grant } = await setup();
  await using _ = s;
  for (
    const body of [
      {},
      { ...grant(), service: "../x" },
      { ...grant(), actor_omni: "0x12" },
      {
        ...grant(),
        ttl_seconds: 1801,
      },
      { ...grant(), ttl_seconds: 0 },
      { ...grant(), ttl_seconds: 61 },
    ]
  ) {
    const r = await s.call("POST", "/v1/cap/cred-store", opToken, body);
    assertEquals([r.status, r.body.error], [400, "bad_request"], JSON.stringify(body));
  }
  const memNoNs = await s.call("POST", "/v1/cap/memory-get", opToken, grant());
  assertEquals(memNoNs.status, 400);
  const anon = await s.call("POST", "/v1/cap/cred-store", undefined, grant());
  assertEquals([anon.status, anon.body.error], [401, "no_session"]);
  const ttl = await s.call("POST", "/v1/cap/cred-store", opToken, { ...grant(), ttl_seconds: 60 });
  assertEquals(Date.parse(ttl.body.expires_at as string) - Date.now() <= 60_000, true);
});

Deno.test("cap lifetimes: fetch at most 300 s, store and teardown at most 60 s; longer is 400, not clamped", async () => {
  const { s, opToken, grant } = await setup();
  await using _ = s;
  const lifetime = async (kind: string, ttl?: number) => {
    const { service: _service, ...owner } = grant();
    const target = kind.startsWith("memory-") ? { ...owner, namespace: "notes" } : grant();
    const body = ttl === undefined ? target : { ...target, ttl_seconds: ttl };
    const r = await s.call("POST", `/v1/cap/${kind}`, opToken, body);
    if (r.status !== 200) return `${r.status} ${r.body.error}`;
    const [, payload] = (r.body.cap as string).split(".");
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(payload, {
      alphabet: "base64url",
    })));
    return claims.exp - claims.iat;
  };
  // Defaults are the maxima.
  assertEquals(
    [
      await lifetime("cred-fetch"),
      await lifetime("cred-store"),
      await lifetime("cred-teardown"),
    ],
    [300, 60, 60],
  );
  assertEquals(
    [
      await lifetime("cred-fetch", 300),
      await lifetime("cred-fetch", 301),
      await lifetime("cred-store", 61),
      await lifetime("cred-teardown", 300),
      await lifetime("memory-put", 61),
      await lifetime("memory-put", 60),
      await lifetime("memory-get", 1800),
    ],
    [
      300,
      "400 bad_request",
      "400 bad_request",
      "400 bad_request",
      "400 bad_request",
      60,
      "400 bad_request",
    ],
  );
});
