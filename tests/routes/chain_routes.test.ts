/**
 * The embedded chain's unauthenticated POST routes in the app (second review): a web page of
 * another origin cannot drive the JSON-RPC proxy or the dev faucet (a cross-site "simple" POST
 * with `text/plain` used to pass), and the proxy has a per-client budget counting every call of
 * a batch (`AGENTKEYS_RATE_RPC`).
 */

import { assertEquals } from "../support/assert.ts";
import type { OpenChain } from "../../lib/chain/mod.ts";
import { defaultGuards, type Guards } from "../../lib/config/mod.ts";
import { createApp } from "../../routes/app.ts";
import { LIMITS, testVault } from "../support/harness.ts";

const peer = (hostname: string) => ({ remoteAddr: { hostname, port: 40_000, transport: "tcp" } });

/** An embedded chain whose node answers `eth_chainId` and counts what reached it. */
function fakeChain(seen: { rpc: number; funded: string[] }): OpenChain & AsyncDisposable {
  const node = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
    seen.rpc++;
    return Response.json({ jsonrpc: "2.0", id: body.id, result: "0x7a69" });
  });
  const client = {
    chainId: 31337,
    contracts: () => ({
      AgentRegistry: { address: "0x" + "01".repeat(20) },
      ScopeRegistry: { address: "0x" + "02".repeat(20) },
    }),
  };
  return {
    client,
    embedded: true,
    faucet: (address: string) => {
      seen.funded.push(address);
      return Promise.resolve({ balance: 10n ** 19n });
    },
    rpcUrl: `http://127.0.0.1:${node.addr.port}`,
    [Symbol.asyncDispose]: () => node.shutdown(),
  } as unknown as OpenChain & AsyncDisposable;
}

async function chainApp(guards: Partial<Guards> = {}) {
  const vault = await testVault();
  const seen = { rpc: 0, funded: [] as string[] };
  const chain = fakeChain(seen);
  const app = createApp({
    worker: vault.worker,
    chain,
    limits: LIMITS,
    port: 80,
    publicUrl: "http://127.0.0.1:8787",
    guards: { ...defaultGuards(), ...guards },
    now: () => 1_000_000,
    health: {
      version: "test",
      roles: ["worker"],
      store: "fs",
      chainId: 31337,
      activeEpoch: () => 1,
    },
  });
  const post = async (
    path: string,
    body: string,
    headers: Record<string, string>,
    from = "192.0.2.1",
  ) => {
    const res = await app.request(path, { method: "POST", headers, body }, peer(from));
    const text = await res.text();
    return {
      status: res.status,
      body: text === "" ? undefined : JSON.parse(text),
      retryAfter: res.headers.get("retry-after"),
    };
  };
  return {
    seen,
    post,
    async [Symbol.asyncDispose]() {
      await chain[Symbol.asyncDispose]();
      await vault[Symbol.asyncDispose]();
    },
  };
}

const RPC = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId" });
const FAUCET = JSON.stringify({ address: "0x" + "f2".repeat(20) });
const JSON_TYPE = { "content-type": "application/json" };

Deno.test("drive-by: the proxy and the faucet refuse other origins (403) and non-JSON bodies (415)", async () => {
  await using a = await chainApp();
  for (const path of ["/v1/chain/rpc", "/v1/dev/faucet"]) {
    const body = path === "/v1/dev/faucet" ? FAUCET : RPC;
    // What a page's no-cors fetch sends (the reviewer's 16_drive_by_rpc.sh).
    const simple = await a.post(path, body, {
      "content-type": "text/plain;charset=UTF-8",
      origin: "https://evil.example",
      "sec-fetch-site": "cross-site",
      "sec-fetch-mode": "no-cors",
    });
    assertEquals([simple.status, simple.body.error], [403, "cross_origin"], path);
    for (
      const headers of [
        { ...JSON_TYPE, "sec-fetch-site": "cross-site" },
        { ...JSON_TYPE, "sec-fetch-site": "same-site" }, // another port of this host
        { ...JSON_TYPE, origin: "https://evil.example" },
        { ...JSON_TYPE, origin: "http://127.0.0.1:9999" },
      ]
    ) {
      const r = await a.post(path, body, headers);
      assertEquals([r.status, r.body.error], [403, "cross_origin"], JSON.stringify(headers));
    }
    // No Origin but not JSON: an HTML form of a browser that sends no Sec-Fetch-Site.
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]) {
      const r = await a.post(path, body, { "content-type": type });
      assertEquals([r.status, r.body.error], [415, "unsupported_media_type"], `${path} ${type}`);
    }
    const missing = await a.post(path, body, {});
    assertEquals(missing.status, 415, `${path} without a content type`);
  }
  assertEquals([a.seen.rpc, a.seen.funded.length], [0, 0], "nothing reached the chain");

  // The CLI and viem: JSON, no Origin. The console: its own origin.
  assertEquals((await a.post("/v1/chain/rpc", RPC, JSON_TYPE)).body.result, "0x7a69");
  const own = await a.post("/v1/chain/rpc", RPC, {
    "content-type": "application/json; charset=utf-8",
    "sec-fetch-site": "same-origin",
    origin: "http://127.0.0.1:8787",
  });
  assertEquals(own.body.result, "0x7a69");
  assertEquals((await a.post("/v1/dev/faucet", FAUCET, JSON_TYPE)).status, 200);
  assertEquals([a.seen.rpc, a.seen.funded.length], [2, 1]);
});

Deno.test("proxy budget: per client address, each call of a batch one token (429 rate_limited)", async () => {
  await using a = await chainApp({ rpcRate: { capacity: 5, periodMs: 60_000 } });
  const call = (id: number) => ({ jsonrpc: "2.0", id, method: "eth_chainId" });
  const batch = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => call(i)));
  const four = await a.post("/v1/chain/rpc", batch(4), JSON_TYPE);
  assertEquals([four.status, four.body.length], [200, 4]);
  const two = await a.post("/v1/chain/rpc", batch(2), JSON_TYPE);
  assertEquals([two.status, two.body.error, two.retryAfter], [429, "rate_limited", "12"]);
  assertEquals(a.seen.rpc, 4, "the refused batch reached nothing");
  assertEquals((await a.post("/v1/chain/rpc", RPC, JSON_TYPE)).status, 200, "one token left");
  assertEquals((await a.post("/v1/chain/rpc", RPC, JSON_TYPE)).status, 429);
  // Another client has its own budget; all of loopback is one client.
  assertEquals((await a.post("/v1/chain/rpc", RPC, JSON_TYPE, "192.0.2.2")).status, 200);
  assertEquals((await a.post("/v1/chain/rpc", batch(5), JSON_TYPE, "127.0.0.1")).status, 200);
  assertEquals((await a.post("/v1/chain/rpc", RPC, JSON_TYPE, "127.0.0.2")).status, 429);
});

Deno.test("proxy budget: the default lets a CLI's burst through", async () => {
  await using a = await chainApp();
  for (let i = 0; i < 25; i++) {
    const body = JSON.stringify(
      Array.from({ length: 20 }, (_, id) => ({ jsonrpc: "2.0", id, method: "eth_chainId" })),
    );
    assertEquals((await a.post("/v1/chain/rpc", body, JSON_TYPE)).status, 200, String(i));
  }
});
