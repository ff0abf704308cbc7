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
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { assert, assertEquals } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { type OpenChain, openChain, RpcProxy } from "../../lib/chain/mod.ts";
import { chainDefinition } from "../../lib/chain/_client.ts";
import { RPC_ANSWER_MAX_BYTES, RPC_BATCH_MAX, RPC_GAS_MAX } from "../../lib/chain/_rpc_proxy.ts";
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
  await p.chain.faucet!(operator.address, parseEther("1"));
  const handle = { addresses: p.chain.client.addresses, publicClient: p.publicClient };
  const agent = await registerAgent(handle, operator, "mail-bot");
  assertEquals(agent.receipt.status, "success");
  const device = await p.chain.client.getDevice(agent.deviceKeyHash);
  assertEquals(device?.actorOmni, agent.actorOmni);
});

Deno.test("the reviewer's attack: anvil_setStorageAt through the proxy is refused; the record stays the victim's", async () => {
  await using p = await proxied();
  const victim = walletFor(p.rpcUrl, p.chain.client.chainId, generatePrivateKey());
  await p.chain.faucet!(victim.address, parseEther("1"));
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
  const proxy = new RpcProxy("http://127.0.0.1:1", { writable: [] });
  const r = await proxy.handle(JSON.stringify(call(5, "eth_chainId")));
  assertEquals(r, {
    jsonrpc: "2.0",
    id: 5,
    error: { code: -32603, message: "the chain is unavailable" },
  });
});

/** An infinite loop (JUMPDEST PUSH1 0 JUMP): it burns whatever gas the call is given. */
const LOOP = "0x5b600056";
const NOWHERE = "0x00000000000000000000000000000000000000aa";

Deno.test("eth_call/eth_estimateGas: no state or block overrides, no code of the caller's, gas at most the block limit (review: CPU DoS)", async () => {
  await using p = await proxied();
  const registry = p.chain.client.addresses.AgentRegistry;
  // Small gas on purpose: the reviewer's 0xffffffffffff kept anvil busy for days.
  const refused: [string, unknown[]][] = [
    ["eth_call", [{ to: NOWHERE, gas: "0x186a0" }, "latest", { [NOWHERE]: { code: LOOP } }]],
    ["eth_estimateGas", [{ to: NOWHERE }, "latest", { [NOWHERE]: { code: LOOP } }]],
    ["eth_call", [{ to: registry }, "latest", {}, { number: "0x1" }]],
    ["eth_call", [{ to: registry, gas: `0x${(RPC_GAS_MAX + 1n).toString(16)}` }, "latest"]],
    ["eth_estimateGas", [{ to: registry, gas: "0xffffffffffff" }]],
    ["eth_call", [{ to: registry, gas: 100000 }, "latest"]],
    ["eth_call", [{ data: LOOP, gas: "0x186a0" }, "latest"]], // contract creation: its own code
    ["eth_estimateGas", [{ data: LOOP }]],
    ["eth_call", []],
    ["eth_call", ["0x00"]],
  ];
  for (const [i, [method, params]] of refused.entries()) {
    const r = await p.rpc(call(i, method, params));
    assertEquals(
      [r.status, r.body.id, r.body.error?.code],
      [200, i, -32602],
      JSON.stringify(params),
    );
  }
  // Named params are not positional: refused too, whatever they hold.
  const named = await p.rpc({ jsonrpc: "2.0", id: 50, method: "eth_call", params: { tx: {} } });
  assertEquals(named.body.error?.code, -32602);

  // Within the bounds the node answers: a view call with the full block gas, and viem's reads.
  const data = "0x6567ce40" + "00".repeat(12) + "ab".repeat(20); // operatorOmniOf(address)
  const ok = await p.rpc(
    call(60, "eth_call", [{ to: registry, data, gas: `0x${RPC_GAS_MAX.toString(16)}` }, "latest"]),
  );
  assertEquals(ok.body.error, undefined);
  assert(/^0x[0-9a-f]{64}$/.test(ok.body.result), ok.body.result);
  const est = await p.rpc(call(61, "eth_estimateGas", [{ to: registry, data }]));
  assertEquals(est.body.error, undefined);
});

Deno.test("eth_getLogs: at most 1,000 blocks, latest resolved before the check (review: amplification)", async () => {
  await using p = await proxied();
  // Mined on anvil directly (the proxy refuses evm/anvil methods).
  await fetch(p.chain.rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(call(1, "anvil_mine", ["0x5dc"])), // 1,500 blocks
  }).then((r) => r.body?.cancel());
  const latest = BigInt((await p.rpc(call(2, "eth_blockNumber"))).body.result);
  assert(latest >= 1500n, String(latest));
  const logs = (filter: unknown) => p.rpc(call(3, "eth_getLogs", [filter]));
  const hex = (n: bigint) => `0x${n.toString(16)}`;
  for (
    const filter of [
      { fromBlock: "0x0", toBlock: "latest" }, // the reviewer's request
      { fromBlock: "earliest" },
      { fromBlock: "0x0", toBlock: "0x3e8" }, // 1,001 blocks
      { fromBlock: hex(latest - 1000n) },
      { fromBlock: "earliest", toBlock: "finalized" },
    ]
  ) {
    const r = await logs(filter);
    assertEquals(r.body.error?.code, -32005, JSON.stringify(filter));
    assert(r.body.error.message.includes("1000 blocks"), r.body.error.message);
  }
  for (
    const filter of [
      { fromBlock: "0x0", toBlock: "0x3e7" }, // exactly 1,000 blocks
      { fromBlock: hex(latest - 999n), toBlock: "latest" },
      {}, // latest..latest
      { address: p.chain.client.addresses.AgentRegistry, fromBlock: hex(latest - 5n) },
    ]
  ) {
    const r = await logs(filter);
    assertEquals(r.body.error, undefined, JSON.stringify(filter));
    assert(Array.isArray(r.body.result));
  }
  for (const bad of [{ fromBlock: "pending-ish" }, { fromBlock: 5 }, "x", null]) {
    assertEquals((await logs(bad)).body.error?.code, -32602, JSON.stringify(bad));
  }
  const twoFilters = await p.rpc(call(4, "eth_getLogs", [{}, {}]));
  assertEquals(twoFilters.body.error?.code, -32602);
});

Deno.test("RpcProxy: an answer over 1 MiB is not relayed, and the node's body is read no further", async () => {
  let pulled = 0;
  const chunk = new TextEncoder().encode(
    `{"jsonrpc":"2.0","id":1,"result":"0x${"00".repeat(8192)}`,
  );
  const endless = () =>
    new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
  const proxy = new RpcProxy("http://node.invalid", {
    writable: [],
    fetch: () => Promise.resolve(new Response(endless())),
  });
  const r = await proxy.handle(JSON.stringify(call(9, "eth_getBlockByNumber", ["latest", true])));
  assertEquals((r as { error?: { code: number } }).error?.code, -32005);
  assert(pulled <= RPC_ANSWER_MAX_BYTES + 2 * chunk.byteLength, `read ${pulled} bytes`);

  // A declared length over the cap is refused before reading; under it, relayed as it is.
  const declared = new RpcProxy("http://node.invalid", {
    writable: [],
    fetch: () =>
      Promise.resolve(
        new Response(endless(), {
          headers: { "content-length": String(RPC_ANSWER_MAX_BYTES + 1) },
        }),
      ),
  });
  pulled = 0;
  const d = await declared.handle(JSON.stringify(call(10, "eth_chainId")));
  assertEquals((d as { error?: { code: number } }).error?.code, -32005);
  const small = new RpcProxy("http://node.invalid", {
    writable: [],
    fetch: () => Promise.resolve(Response.json({ jsonrpc: "2.0", id: 0, result: "0x7a69" })),
  });
  assertEquals(await small.handle(JSON.stringify(call(11, "eth_chainId"))), {
    jsonrpc: "2.0",
    id: 11,
    result: "0x7a69",
  });
});

Deno.test("eth_sendRawTransaction: only calls of AgentRegistry and ScopeRegistry (review: chain bloat)", async () => {
  await using p = await proxied();
  const key = generatePrivateKey();
  const account = privateKeyToAccount(key);
  await p.chain.faucet!(account.address, parseEther("1"));
  const { AgentRegistry, ScopeRegistry, K3EpochCounter, AuditAnchor } = p.chain.client.addresses;
  const base = {
    chainId: p.chain.client.chainId,
    gas: 1_000_000n,
    maxFeePerGas: 10_000_000_000n,
    maxPriorityFeePerGas: 1n,
    type: "eip1559" as const,
  };
  const nonce = 0; // nothing refused lands, so every attempt uses the first nonce
  const send = async (tx: Record<string, unknown>) => {
    const raw = await account.signTransaction({ ...base, nonce, ...tx } as never);
    return (await p.rpc(call(nonce, "eth_sendRawTransaction", [raw]))).body;
  };
  const blockBefore = (await p.rpc(call(0, "eth_blockNumber"))).body.result;
  for (
    const tx of [
      { data: "0x6000" }, // a contract deployment
      { to: "0x00000000000000000000000000000000000000bb", value: 1n }, // a transfer
      { to: K3EpochCounter, data: "0x3cf80e6c" }, // governance: the service's own key only
      { to: AuditAnchor, data: "0x00" },
      { to: AgentRegistry, data: "0x19a83f1f" + "00".repeat(32), value: 1n },
    ]
  ) {
    const r = await send(tx);
    assertEquals(
      r.error?.code,
      -32602,
      JSON.stringify(tx, (_k, v) => typeof v === "bigint" ? String(v) : v),
    );
  }
  for (const bad of ["0x1234", "not hex", 7]) {
    const r = await p.rpc(call(90, "eth_sendRawTransaction", [bad]));
    assertEquals(r.body.error?.code, -32602, String(bad));
  }
  assertEquals((await p.rpc(call(91, "eth_blockNumber"))).body.result, blockBefore, "no block");
  assertEquals(
    (await p.rpc(call(92, "eth_getTransactionCount", [account.address, "latest"]))).body.result,
    "0x0",
  );
  // A registry call passes (it reverts on chain: no such device, but it is the registry's call).
  const ok = await send({ to: ScopeRegistry, data: "0xe4996e97" + "00".repeat(32) });
  assertEquals(ok.error, undefined);
  assert(/^0x[0-9a-f]{64}$/.test(ok.result));
});

Deno.test("proxy: the after-transaction hook runs with the hash of an accepted transaction only", async () => {
  const registry = privateKeyToAccount(generatePrivateKey()).address;
  const raw = await privateKeyToAccount(generatePrivateKey()).signTransaction({
    to: registry,
    data: "0x",
    chainId: 31337,
    nonce: 0,
    gas: 100_000n,
    maxFeePerGas: 1n,
    maxPriorityFeePerGas: 1n,
  });
  const send = JSON.stringify(call(1, "eth_sendRawTransaction", [raw]));
  const seen: string[] = [];
  const proxy = (answer: Record<string, unknown>) =>
    new RpcProxy("http://node.invalid", {
      writable: [registry],
      fetch: () => Promise.resolve(Response.json({ jsonrpc: "2.0", id: 0, ...answer })),
      afterTransaction: (hash) => {
        seen.push(hash);
        return Promise.resolve();
      },
    });
  const hash = "0x" + "ab".repeat(32);
  assertEquals((await proxy({ result: hash }).handle(send) as { result?: string }).result, hash);
  assertEquals(seen, [hash]);
  // Refused by the node (nonce too low, …): nothing to wait for.
  const refused = await proxy({ error: { code: -32000, message: "nonce too low" } }).handle(send);
  assertEquals((refused as { error?: { code: number } }).error?.code, -32000);
  // A read is not a transaction.
  await proxy({ result: "0x7a69" }).handle(JSON.stringify(call(2, "eth_chainId")));
  assertEquals(seen, [hash]);
  // A failing hook (the chain client cannot sync) does not turn an accepted transaction into an error.
  const failing = new RpcProxy("http://node.invalid", {
    writable: [registry],
    fetch: () => Promise.resolve(Response.json({ jsonrpc: "2.0", id: 0, result: hash })),
    afterTransaction: () => Promise.reject(new Error("chain unavailable")),
  });
  assertEquals((await failing.handle(send) as { result?: string }).result, hash);
});
