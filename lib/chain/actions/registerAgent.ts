/**
 * `registerAgent`: an operator registers an agent's device key in AgentRegistry.
 *
 * @module
 */

import type { Account, Address, Chain, Hash, Hex, Transport, WalletClient } from "viem";
import { simulateContract, writeContract } from "viem/actions";
import { agentRegistryAbi } from "../artifacts.ts";

/** What `AgentRegistry.registerAgent` takes, and where the registry is. */
export interface RegisterAgentParameters {
  /** The AgentRegistry. */
  address: Address;
  /** `^[a-z0-9-]{1,32}$`; the contract refuses others (`InvalidLabel`). */
  label: string;
  /** 0 for a new agent; a re-issued one takes the next (uint32). */
  generation: number;
  /** `deviceKeyHash(deviceAddress)` of lib/identity. */
  deviceKeyHash: Hex;
  /**
   * The device key's proof of possession: `signDevicePop(device, {chainId, registry: address,
   * operatorOmni, label, generation})` of lib/identity. Without it the contract reverts with
   * `InvalidDeviceProof`, so nobody registers a key they do not hold.
   */
  devicePop: Hex;
}

/**
 * Registers an agent from the wallet's account (the operator) and returns the transaction hash
 * once sent. The call is simulated first, so a refusal rejects with viem's
 * `ContractFunctionExecutionError` around a `ContractFunctionRevertedError` naming the
 * contract's error (`InvalidDeviceProof`, `DeviceAlreadyRegistered`, …) and no transaction is
 * sent.
 *
 * ```ts
 * const devicePop = await signDevicePop(device, { chainId, registry, operatorOmni, label, generation: 0 });
 * const hash = await registerAgent(wallet, {
 *   address: registry, label, generation: 0, deviceKeyHash: deviceKeyHash(device.address), devicePop,
 * });
 * await publicClient.waitForTransactionReceipt({ hash });
 * ```
 */
export async function registerAgent(
  client: WalletClient<Transport, Chain, Account>,
  params: RegisterAgentParameters,
): Promise<Hash> {
  const { request } = await simulateContract(client, {
    account: client.account,
    chain: client.chain,
    address: params.address,
    abi: agentRegistryAbi,
    functionName: "registerAgent",
    args: [params.label, params.generation, params.deviceKeyHash, params.devicePop],
  });
  return await writeContract(client, request);
}
