/**
 * `setScope`: an operator sets which services one of its agents may use, in ScopeRegistry.
 *
 * @module
 */

import type { Account, Address, Chain, Hash, Hex, Transport, WalletClient } from "viem";
import { simulateContract, writeContract } from "viem/actions";
import { scopeRegistryAbi } from "../artifacts.ts";

/** What `ScopeRegistry.setScope` takes, and where the registry is. */
export interface SetScopeParameters {
  /** The ScopeRegistry. */
  address: Address;
  /** The agent; it must be the wallet's operator's and not revoked. */
  actorOmni: Hex;
  /**
   * `serviceHash(name)` of lib/identity for each service (the chain keeps only hashes); at most
   * 128, no zero hash, no duplicates. The whole scope is replaced.
   */
  serviceHashes: readonly Hex[];
  /** Agents may fetch but not store or tear down (their operator still may). */
  readOnly: boolean;
}

/**
 * Replaces an agent's scope from the wallet's account (its operator) and returns the
 * transaction hash once sent. Simulated first: a refusal (`NotYourAgent`, `AgentIsRevoked`,
 * `TooManyServices`, `DuplicateService`, `ZeroServiceHash`) rejects with viem's
 * `ContractFunctionRevertedError` inside and no transaction is sent.
 *
 * ```ts
 * const hash = await setScope(wallet, {
 *   address: scopeRegistry, actorOmni, serviceHashes: ["openai"].map(serviceHash), readOnly: false,
 * });
 * ```
 */
export async function setScope(
  client: WalletClient<Transport, Chain, Account>,
  params: SetScopeParameters,
): Promise<Hash> {
  const { request } = await simulateContract(client, {
    account: client.account,
    chain: client.chain,
    address: params.address,
    abi: scopeRegistryAbi,
    functionName: "setScope",
    args: [params.actorOmni, params.serviceHashes, params.readOnly],
  });
  return await writeContract(client, request);
}
