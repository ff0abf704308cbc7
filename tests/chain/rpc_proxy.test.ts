/**
 * The embedded chain's exposure (review finding): anvil answers no CORS and has no unlocked
 * accounts, and clients reach it only through `POST /v1/chain/rpc`, which forwards standard
 * reads and signed transactions and refuses cheat codes, tracing and unlocked-account methods.
 * The reviewer's attack (copy a victim's device record onto one's own key hash with
 * `anvil_setStorageAt`) is replayed through the proxy.
 */

import { Hono } from "hono";
import {
  createPublicClient,
  encodeAbiParameters,
  type Hex,
  http,
  keccak256,
  parseEther,
  type PublicClient,
} from "viem";
import { generatePrivateKey } from "viem/accounts";
import { assert, assertEquals } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import {
  chainDefinition,
  type OpenChain,
  openChain,
  RPC_BATCH_MAX,
  RpcProxy,
} from "../../lib/chain/mod.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { deviceKeyHash } from "../../lib/identity/mod.ts";
import { CHAIN_RPC_PATH, chainRoutes } from "../../routes/chain.ts";
import { errorResponse } from "../../routes/errors.ts";
import { registerAgent, walletFor } from "../support/chain.ts";

/** One JSON-RPC answer (typed loosely on purpose: the tests check which fields are there). */
interface One {
  jsonrpc: string;
  id: string | number | null;
  result: Hex;
  error: { code: number; message: string };
}

interface Proxied extends AsyncDisposable {
  chain: OpenChain;
  /** This test server's origin; the proxy is at `${url}/v1/chain/rpc`. */
  url: string;
  rpcUrl: string;
  /** A viem client that talks through the proxy. */
  publicClient: PublicClient;
  /** `body` is one answer or, for a batch, an array of them. */
  rpc(body: unknown): Promise<{ status: number; body: One & One[] }>;
}

/** The embedded chain in a temp data dir, its routes served on a loopback port. */
async function proxied(): Promise<Proxied> {
  const dir = await tempDir();
  const chain = await openChain(loadConfig({ AGENTKEYS_DATA_DIR: dir.path }));
  const app = new Hono();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  // Routes are added after the bind: rpc_url carries the port the OS picked.
  const url = `http://127.0.0.1:${server.addr.port}`;
  app.onError((err, c) => errorResponse(c, err));
  app.route("/", chainRoutes(chain, url));
  const rpcUrl = `${url}${CHAIN_RPC_PATH}`;
  return {
    chain,
    url,
    rpcUrl,
    publicClient: createPublicClient({
      chain: chainDefinition(chain.client.chainId, rpcUrl),
      transport: http(rpcUrl),
    }) as PublicClient,
    async rpc(body) {
      const res = await fetch(rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await chain.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

const call = (id: number, method: string, params: unknown[] = []) => ({
  jsonrpc: "2.0",
  id,
  method,
  params,
});

/** Storage slot `offset` of `devices[hash]` (AgentRegistry's first state variable). */
function deviceSlot(hash: Hex, offset: number): Hex {
  const base = BigInt(keccak256(encodeAbiParameters([{ type: "bytes32" }, { type: "uint256" }], [
    hash,
    0n,
  ])));
  return `0x${(base + BigInt(offset)).toString(16).padStart(64, "0")}`;
}

Deno.test("GET /v1/chain publishes the proxy, never anvil's port", async () => {
  await using p = await proxied();
  const info = await (await fetch(`${p.url}/v1/chain`)).json();
  assertEquals(info.rpc_url, p.rpcUrl);
  const anvilPort = String(p.chain.embeddedChain!.anvil.port);
  assert(!JSON.stringify(info).includes(`:${anvilPort}`), "anvil's port leaked");
});

Deno.test("anvil itself: no CORS headers for a foreign origin, no unlocked accounts", async () => {
  await using p = await proxied();
  const post = await fetch(p.chain.rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json", origin: "http://evil.example" },
    body: JSON.stringify(call(1, "eth_accounts")),
  });
  assertEquals(post.headers.get("access-control-allow-origin"), null);
  assertEquals((await post.json()).result, [], "the embedded anvil has no dev accounts");
  const preflight = await fetch(p.chain.rpcUrl, {
    method: "OPTIONS",
    headers: {
      origin: "http://evil.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    },
  });
  await preflight.body?.cancel();
  assertEquals(preflight.headers.get("access-control-allow-origin"), null);
});

Deno.test("refused: cheat codes, tracing and unlocked-account methods answer -32601 and change nothing", async () => {
  await using p = await proxied();
  const registry = p.chain.client.addresses.AgentRegistry;
  const slot = deviceSlot(`0x${"11".repeat(32)}`, 0);
  const someone = "0x00000000000000000000000000000000000000aa";
  const refused: [string, unknown[]][] = [
    ["anvil_setStorageAt", [registry, slot, `0x${"22".repeat(32)}`]],
    ["anvil_setBalance", [someone, "0xffff"]],
    ["anvil_impersonateAccount", [someone]],
    ["evm_mine", []],
    ["evm_snapshot", []],
    ["hardhat_setBalance", [someone, "0xffff"]],
    ["debug_traceTransaction", [`0x${"33".repeat(32)}`]],
    ["eth_sendTransaction", [{ from: someone, to: someone, value: "0x1" }]],
    ["eth_sign", [someone, "0x00"]],
    ["eth_signTransaction", [{ from: someone }]],
    ["personal_sign", ["0x00", someone]],
    ["eth_accounts", []],
    ["eth_coinbase", []],
    ["txpool_content", []],
    ["ots_getApiLevel", []],
    ["no_suchMethod", []],
  ];
  const blockBefore = (await p.rpc(call(0, "eth_blockNumber"))).body.result;
  for (const [i, [method, params]] of refused.entries()) {
    const r = await p.rpc(call(i + 1, method, params));
    assertEquals(r.status, 200, method);
    assertEquals(r.body.jsonrpc, "2.0");
    assertEquals(r.body.id, i + 1, method);
    assertEquals(r.body.error?.code, -32601, method);
    assert(String(r.body.error.message).includes("not allowed"), method);
    assertEquals(r.body.result, undefined, method);
  }
  assertEquals((await p.rpc(call(99, "eth_blockNumber"))).body.result, blockBefore, "no block");
  const stored = await p.rpc(call(100, "eth_getStorageAt", [registry, slot, "latest"]));
  assertEquals(BigInt(stored.body.result), 0n, "storage untouched");
  assertEquals(
    (await p.rpc(call(101, "eth_getBalance", [someone, "latest"]))).body.result,
    "0x0",
  );
});

Deno.test("allowed reads answer through the proxy; viem's public client works on it", async () => {
  await using p = await proxied();
  const r = await p.rpc(call(7, "eth_chainId"));
  assertEquals([r.status, r.body], [200, { jsonrpc: "2.0", id: 7, result: "0x7a69" }]);
  assertEquals(await p.publicClient.getChainId(), 31337);
  const code = await p.publicClient.getCode({ address: p.chain.client.addresses.AgentRegistry });
  assert(code !== undefined && code.length > 2);
  // A string id and params omitted are both valid JSON-RPC.
  const named = await p.rpc({ jsonrpc: "2.0", id: "a", method: "eth_blockNumber" });
  assertEquals(named.body.id, "a");
  assert(/^0x[0-9a-f]+$/.test(named.body.result));
});

Deno.test("a raw transaction signed by the operator lands through the proxy (registerAgent)", async () => {
  await using p = await proxied();
  const operator = walletFor(p.rpcUrl, p.chain.client.chainId, generatePrivateKey());
  await p.chain.client.faucet(operator.address, parseEther("1"));
  const handle = { addresses: p.chain.client.addresses, publicClient: p.publicClient };
  const agent = await registerAgent(handle, operator, "mail-bot");
  assertEquals(agent.receipt.status, "success");
  const device = await p.chain.client.getDevice(agent.deviceKeyHash);
  assertEquals(device?.actorOmni, agent.actorOmni);
});

Deno.test("the reviewer's attack: anvil_setStorageAt through the proxy is refused; the record stays the victim's", async () => {
  await using p = await proxied();
  const victim = walletFor(p.rpcUrl, p.chain.client.chainId, generatePrivateKey());
  await p.chain.client.faucet(victim.address, parseEther("1"));
  const handle = { addresses: p.chain.client.addresses, publicClient: p.publicClient };
  const agent = await registerAgent(handle, victim, "mail-bot");
  const attackerHash = deviceKeyHash(`0x${"ab".repeat(20)}`);
  const registry = p.chain.client.addresses.AgentRegistry;

  // Reads are public: the attacker learns the victim's record slot by slot.
  const slots: Hex[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await p.rpc(call(i, "eth_getStorageAt", [
      registry,
      deviceSlot(agent.deviceKeyHash, i),
      "latest",
    ]));
    slots.push(r.body.result);
  }
  assertEquals(BigInt(slots[1]), BigInt(agent.actorOmni), "the layout the attack relies on");
  // ...and tries to write it under its own key hash, one call and one batch.
  const writes = slots.map((value, i) =>
    call(10 + i, "anvil_setStorageAt", [registry, deviceSlot(attackerHash, i), value])
  );
  const single = await p.rpc(writes[0]);
  assertEquals(single.body.error?.code, -32601);
  const batch = await p.rpc(writes);
  assertEquals(batch.body.map((a) => a.error?.code), [-32601, -32601, -32601, -32601]);

  assertEquals(await p.chain.client.getDevice(attackerHash), null, "no copied record");
  const victimDevice = await p.chain.client.getDevice(agent.deviceKeyHash);
  assertEquals([victimDevice?.actorOmni, victimDevice?.revoked], [agent.actorOmni, false]);

  // Control: the same writes sent to anvil's own port do copy the record. That is why its port
  // is told to nobody but the service (and why a local user who finds it is out of scope).
  for (const w of writes) {
    await fetch(p.chain.rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(w),
    }).then((r) => r.body?.cancel());
  }
  const copied = await p.rpc(call(20, "eth_getStorageAt", [
    registry,
    deviceSlot(attackerHash, 1),
    "latest",
  ]));
  assertEquals(BigInt(copied.body.result), BigInt(agent.actorOmni), "the attack shape is real");
});

Deno.test("batches: each element is checked, answered by position; size is capped", async () => {
  await using p = await proxied();
  const r = await p.rpc([
    call(1, "eth_chainId"),
    call(2, "anvil_setBalance", ["0x00000000000000000000000000000000000000aa", "0xffff"]),
    call(3, "eth_getBalance", ["0x00000000000000000000000000000000000000aa", "latest"]),
    { jsonrpc: "2.0", method: "evm_mine", params: [] }, // a notification: no answer owed
    "not a request",
  ]);
  assertEquals(r.status, 200);
  assertEquals(r.body.length, 4);
  assertEquals(r.body[0] as unknown, { jsonrpc: "2.0", id: 1, result: "0x7a69" });
  assertEquals([r.body[1].id, r.body[1].error.code], [2, -32601]);
  assertEquals([r.body[2].id, r.body[2].result], [3, "0x0"], "the refused element had no effect");
  assertEquals([r.body[3].id, r.body[3].error.code], [null, -32600]);

  const tooMany = await p.rpc(
    Array.from({ length: RPC_BATCH_MAX + 1 }, (_, i) => call(i, "eth_chainId")),
  );
  assertEquals([tooMany.body.id, tooMany.body.error.code], [null, -32600]);
  const atCap = await p.rpc(
    Array.from({ length: RPC_BATCH_MAX }, (_, i) => call(i, "eth_chainId")),
  );
  assertEquals(atCap.body.length, RPC_BATCH_MAX);
  assertEquals((await p.rpc([])).body.error.code, -32600);
  // Only notifications: nothing to answer.
  const quiet = await p.rpc([{ jsonrpc: "2.0", method: "eth_chainId" }]);
  assertEquals([quiet.status, quiet.body], [204, undefined]);
});

Deno.test("malformed JSON is a parse error; malformed requests are invalid requests", async () => {
  await using p = await proxied();
  const parse = await p.rpc('{"jsonrpc":"2.0","id":1,"method":');
  assertEquals([parse.status, parse.body.id, parse.body.error.code], [200, null, -32700]);
  for (
    const bad of [
      { id: 1, method: "eth_chainId" }, // no jsonrpc
      { jsonrpc: "1.0", id: 1, method: "eth_chainId" },
      { jsonrpc: "2.0", id: 1, method: 5 },
      { jsonrpc: "2.0", id: 1, method: "eth_chainId", params: "x" },
      { jsonrpc: "2.0", id: { x: 1 }, method: "eth_chainId" },
      42,
    ]
  ) {
    const r = await p.rpc(bad);
    assertEquals(r.body.error?.code, -32600, JSON.stringify(bad));
  }
});

Deno.test("RpcProxy: an unreachable node is -32603 without internals", async () => {
  const proxy = new RpcProxy("http://127.0.0.1:1");
  const r = await proxy.handle(JSON.stringify(call(5, "eth_chainId")));
  assertEquals(r, {
    jsonrpc: "2.0",
    id: 5,
    error: { code: -32603, message: "the chain is unavailable" },
  });
});
