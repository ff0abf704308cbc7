/**
 * `revokeScope`: an operator empties one of its agents' scopes in ScopeRegistry.
 *
 * @module
 */

import type { Account, Address, Chain, Hash, Hex, Transport, WalletClient } from "viem";
import { simulateContract, writeContract } from "viem/actions";
import { scopeRegistryAbi } from "../artifacts.ts";

/** What `ScopeRegistry.revokeScope` takes, and where the registry is. */
export interface RevokeScopeParameters {
  /** The ScopeRegistry. */
  address: Address;
  /** The agent; it must be the wallet's operator's and have a scope (`NoScope`). */
  actorOmni: Hex;
}

/**
 * Removes every service from an agent's scope from the wallet's account (its operator) and
 * returns the transaction hash once sent. Simulated first: a refusal (`NotYourAgent`,
 * `NoScope`) rejects with viem's `ContractFunctionRevertedError` inside and no transaction is
 * sent.
 *
 * ```ts
 * const hash = await revokeScope(wallet, { address: scopeRegistry, actorOmni });
 * ```
 */
export async function revokeScope(
  client: WalletClient<Transport, Chain, Account>,
  params: RevokeScopeParameters,
): Promise<Hash> {
  const { request } = await simulateContract(client, {
    account: client.account,
    chain: client.chain,
    address: params.address,
    abi: scopeRegistryAbi,
    functionName: "revokeScope",
    args: [params.actorOmni],
  });
  return await writeContract(client, request);
}
