/**
 * `GET /v1/chain` (contracts and, on the embedded chain, its RPC URL) and the embedded chain's
 * dev faucet, which exists only there.
 *
 * @module
 */

import { Hono } from "hono";
import { isAddress } from "viem";
import type { OpenChain } from "../lib/chain/mod.ts";
import { ApiError } from "./errors.ts";
import { jsonBody } from "./request.ts";

/** What the faucet hands out: enough gas for a lifetime of registrations on a dev chain. */
const FAUCET_WEI = 10n ** 19n;

export function chainRoutes(chain: OpenChain): Hono {
  const app = new Hono();
  const contracts = chain.client.contracts();
  app.get("/v1/chain", (c) =>
    c.json({
      chain_id: chain.client.chainId,
      // Only the embedded chain's URL is published: it is this service's own dev node.
      ...(chain.embedded ? { rpc_url: chain.rpcUrl } : {}),
      contracts,
    }));
  if (chain.embedded) {
    app.post("/v1/dev/faucet", async (c) => {
      const body = await jsonBody(c);
      if (typeof body.address !== "string" || !isAddress(body.address, { strict: false })) {
        throw new ApiError(400, "bad_request", "address must be an EVM address");
      }
      const { txHash } = await chain.client.faucet(body.address as `0x${string}`, FAUCET_WEI);
      return c.json({
        address: body.address.toLowerCase(),
        wei: FAUCET_WEI.toString(),
        tx_hash: txHash,
      });
    });
  }
  return app;
}
