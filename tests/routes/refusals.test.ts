/**
 * Refusal paths of the identity routes that the flow tests do not reach: the chain is down,
 * malformed service names, the dev faucet's input and its absence on an external chain.
 */

import { assertEquals } from "../support/assert.ts";
import { Hono } from "hono";
import { type OpenChain } from "../../lib/chain/mod.ts";
import { ChainUnavailableError } from "../../lib/chain/_client.ts";
import { chainRoutes } from "../../routes/chain.ts";
import { errorResponse } from "../../routes/errors.ts";
import { newAccount, testService } from "../support/broker_harness.ts";
import { b64 } from "../support/harness.ts";

Deno.test("chain down: minting and the worker's re-check answer 503 chain_unavailable", async () => {
  await using s = await testService();
  const operator = newAccount();
  const device = newAccount();
  const agent = s.identity.register(operator.address, "bot", device.address);
  s.identity.setScope(agent.operatorOmni, agent.actorOmni, ["openai"]);
  const op = await s.loginOperator(operator);
  const grant = {
    operator_omni: agent.operatorOmni,
    actor_omni: agent.actorOmni,
    service: "openai",
  };
  const store = await s.call("POST", "/v1/cap/cred-store", op, grant);
  assertEquals(store.status, 200);

  const down = () => Promise.reject(new ChainUnavailableError("connection refused"));
  s.identity.getDevice = down;
  s.identity.agentsOf = down;
  const mint = await s.call("POST", "/v1/cap/cred-fetch", op, grant);
  assertEquals([mint.status, mint.body.error], [503, "chain_unavailable"]);
  // A cap minted before the outage is not honoured blindly: the re-check needs the chain.
  const write = await s.call("POST", "/v1/cred/store", store.body.cap as string, {
    plaintext_b64: b64("x"),
  });
  assertEquals([write.status, write.body.error], [503, "chain_unavailable"]);
  assertEquals(String(write.body.message).includes("connection refused"), false, "no internals");
});

Deno.test("POST /v1/services/names: names of scopes on chain are learnt; others 403; malformed lists 400; no session 401", async () => {
  await using s = await testService();
  const operator = newAccount();
  const op = await s.loginOperator(operator);
  const agentDevice = newAccount();
  const agent = s.identity.register(operator.address, "bot", agentDevice.address);
  // Before any scope holds them, names are refused: the dictionary only grows with scopes on
  // chain (the second review filled KV with 51,200 names in 4.7 s).
  const early = await s.call("POST", "/v1/services/names", op, { services: ["openai"] });
  assertEquals([early.status, early.body.error], [403, "out_of_scope"]);
  s.identity.setScope(agent.operatorOmni, agent.actorOmni, ["openai", "github"]);
  assertEquals(
    (await s.call("POST", "/v1/services/names", op, { services: ["openai", "github"] })).status,
    200,
  );
  const me = await s.call("GET", "/v1/operators/me", op);
  assertEquals((me.body.agents as { scope: { services: string[] } }[])[0].scope.services, [
    "openai",
    "github",
  ]);
  // One name outside every scope refuses the whole list, and records none of it.
  const mixed = await s.call("POST", "/v1/services/names", op, { services: ["gitlab", "openai"] });
  assertEquals([mixed.status, mixed.body.error], [403, "out_of_scope"]);
  // Another operator, whose agents hold no such scope, cannot teach it.
  const other = await s.loginOperator(newAccount());
  const foreign = await s.call("POST", "/v1/services/names", other, { services: ["openai"] });
  assertEquals([foreign.status, foreign.body.error], [403, "out_of_scope"]);
  // An agent may teach only its own scope's names.
  const agentSession = await s.loginDevice(agentDevice);
  assertEquals(
    (await s.call("POST", "/v1/services/names", agentSession, { services: ["github"] })).status,
    200,
  );
  for (
    const body of [{}, { services: "openai" }, { services: [5] }, { services: ["../x"] }, {
      services: Array(257).fill("a"),
    }]
  ) {
    const r = await s.call("POST", "/v1/services/names", op, body);
    assertEquals([r.status, r.body.error], [400, "bad_request"], JSON.stringify(body).slice(0, 60));
  }
  const anon = await s.call("POST", "/v1/services/names", undefined, { services: ["openai"] });
  assertEquals(anon.status, 401);
});

function fakeChain(embedded: boolean, funded: string[]): OpenChain {
  const client = {
    chainId: 31337,
    contracts: () => ({
      AgentRegistry: { address: "0x" + "01".repeat(20) },
      ScopeRegistry: { address: "0x" + "02".repeat(20) },
    }),
  };
  // As openChain builds it: only the embedded chain has a faucet.
  const faucet = embedded
    ? (address: string) => {
      funded.push(address);
      return Promise.resolve({ balance: 10n ** 19n });
    }
    : undefined;
  return { client, embedded, faucet, rpcUrl: "http://127.0.0.1:1" } as unknown as OpenChain;
}

function chainApp(chain: OpenChain) {
  const app = new Hono();
  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) => c.json({ error: "not_found", message: "no route" }, 404));
  app.route("/", chainRoutes(chain, "http://127.0.0.1:8787"));
  return app;
}

Deno.test("dev faucet: a bad address is 400; on an external chain there is no faucet and no RPC URL", async () => {
  const funded: string[] = [];
  const embedded = chainApp(fakeChain(true, funded));
  const post = (app: Hono, body: unknown) =>
    app.request("/v1/dev/faucet", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  for (const body of [{}, { address: "0x12" }, { address: 5 }]) {
    const r = await post(embedded, body);
    assertEquals([r.status, (await r.json()).error], [400, "bad_request"]);
  }
  const ok = await post(embedded, { address: "0x" + "ab".repeat(20) });
  assertEquals(ok.status, 200);
  assertEquals(funded, ["0x" + "ab".repeat(20)]);
  // The service's own proxy, never the node's URL (http://127.0.0.1:1 here).
  assertEquals(
    (await (await embedded.request("/v1/chain")).json()).rpc_url,
    "http://127.0.0.1:8787/v1/chain/rpc",
  );

  const external = chainApp(fakeChain(false, funded));
  assertEquals((await post(external, { address: "0x" + "ab".repeat(20) })).status, 404);
  assertEquals((await (await external.request("/v1/chain")).json()).rpc_url, undefined);
  const rpc = await external.request("/v1/chain/rpc", {
    method: "POST",
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId" }),
  });
  assertEquals(rpc.status, 404, "no proxy to an external chain");
  assertEquals(funded.length, 1);
});
