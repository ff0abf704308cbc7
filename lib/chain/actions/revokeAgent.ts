/**
 * `revokeAgent`: an operator revokes one of its agents' device keys in AgentRegistry.
 *
 * @module
 */

import type { Account, Address, Chain, Hash, Hex, Transport, WalletClient } from "viem";
import { simulateContract, writeContract } from "viem/actions";
import { agentRegistryAbi } from "../artifacts.ts";

/** What `AgentRegistry.revokeAgent` takes, and where the registry is. */
export interface RevokeAgentParameters {
  /** The AgentRegistry. */
  address: Address;
  /** The device to revoke; it must be one of the wallet's operator's (`NotDeviceOperator`). */
  deviceKeyHash: Hex;
}

/**
 * Revokes an agent's device from the wallet's account (its operator) and returns the
 * transaction hash once sent. Simulated first: a refusal (`UnknownDevice`, `NotDeviceOperator`,
 * `AgentAlreadyRevoked`) rejects with viem's `ContractFunctionRevertedError` inside and no
 * transaction is sent. Workers refuse the agent's caps from the block it is mined in.
 *
 * ```ts
 * const hash = await revokeAgent(wallet, { address: registry, deviceKeyHash });
 * await publicClient.waitForTransactionReceipt({ hash });
 * ```
 */
export async function revokeAgent(
  client: WalletClient<Transport, Chain, Account>,
  params: RevokeAgentParameters,
): Promise<Hash> {
  const { request } = await simulateContract(client, {
    account: client.account,
    chain: client.chain,
    address: params.address,
    abi: agentRegistryAbi,
    functionName: "revokeAgent",
    args: [params.deviceKeyHash],
  });
  return await writeContract(client, request);
}
