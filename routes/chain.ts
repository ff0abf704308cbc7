/**
 * `GET /v1/chain` (contracts and, on the embedded chain, the URL of its JSON-RPC proxy), and on
 * the embedded chain only: the proxy `POST /v1/chain/rpc` (an allow-list in front of anvil,
 * lib/chain/_rpc_proxy.ts) and the dev faucet. Neither needs a session, so routes/app.ts puts
 * `sameOriginJson` and the per-client budgets (`AGENTKEYS_RATE_RPC`, `AGENTKEYS_RATE_FAUCET`) in
 * front of both.
 *
 * An external chain (`AGENTKEYS_RPC_URL`) gets neither: its URL may carry a provider's API key
 * and is the operator's to hand out, so it is not published and not relayed.
 *
 * @module
 */

import { Hono } from "hono";
import { isAddress } from "viem";
import { type OpenChain, RpcProxy } from "../lib/chain/mod.ts";
import { ApiError } from "./errors.ts";
import { jsonBody } from "./request.ts";

/** What the faucet hands out: enough gas for a lifetime of registrations on a dev chain. */
const FAUCET_WEI = 10n ** 19n;

/** The path of the embedded chain's JSON-RPC proxy. */
export const CHAIN_RPC_PATH = "/v1/chain/rpc";

/** `publicUrl`: this service's origin, which `rpc_url` is built on. */
export function chainRoutes(chain: OpenChain, publicUrl: string): Hono {
  const app = new Hono();
  const contracts = chain.client.contracts();
  app.get("/v1/chain", (c) =>
    c.json({
      chain_id: chain.client.chainId,
      // Never anvil's own URL: anvil answers cheat codes to whoever reaches it.
      ...(chain.embedded ? { rpc_url: `${publicUrl}${CHAIN_RPC_PATH}` } : {}),
      contracts,
    }));
  if (chain.embedded) {
    const proxy = new RpcProxy(chain.rpcUrl, {
      writable: [contracts.AgentRegistry.address, contracts.ScopeRegistry.address],
      afterTransaction: (hash) => chain.client.syncAfter(hash as `0x${string}`),
    });
    app.post(CHAIN_RPC_PATH, async (c) => {
      const answer = await proxy.handle(await c.req.text());
      return answer === undefined ? c.body(null, 204) : c.json(answer);
    });
    app.post("/v1/dev/faucet", async (c) => {
      const body = await jsonBody(c);
      if (typeof body.address !== "string" || !isAddress(body.address, { strict: false })) {
        throw new ApiError(400, "bad_request", "address must be an EVM address");
      }
      const { balance } = await chain.faucet(body.address, FAUCET_WEI);
      return c.json({
        address: body.address.toLowerCase(),
        wei: FAUCET_WEI.toString(),
        balance: balance.toString(),
      });
    });
  }
  return app;
}
