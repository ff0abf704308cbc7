/**
 * The development faucet of the embedded chain: credits ether with anvil's `anvil_addBalance`.
 * It lives beside the embedded chain, not in `ChainClient`: a production client (an external
 * chain) has no faucet to misuse, and `OpenChain.faucet` exists only when the chain is embedded.
 *
 * No dev account pays: the embedded anvil runs without them, since their keys are public and
 * anyone could otherwise empty the faucet with raw transactions.
 *
 * @module
 */

import { type Address, createPublicClient, type Hex, http, rpcSchema, toHex } from "viem";
import { chainDefinition, toChainError } from "./_client.ts";

/** Adds `wei` to `address`'s balance and answers the new balance. */
export type Faucet = (address: Address, wei: bigint) => Promise<{ balance: bigint }>;

type AnvilFaucetSchema = [
  { Method: "anvil_addBalance"; Parameters: [Address, Hex]; ReturnType: null },
];

/**
 * A faucet on the anvil at `rpcUrl`. Calls run one at a time, in call order: each credit is a
 * read-modify-write of the balance inside anvil, so concurrent credits never lose one another.
 *
 * ```ts
 * const faucet = anvilFaucet(anvil.rpcUrl, 31337);
 * await faucet(operatorAddress, 10n ** 18n); // { balance }
 * ```
 */
export function anvilFaucet(rpcUrl: string, chainId: number): Faucet {
  const client = createPublicClient({
    chain: chainDefinition(chainId, rpcUrl),
    transport: http(rpcUrl, { retryCount: 1 }),
    cacheTime: 0,
    rpcSchema: rpcSchema<AnvilFaucetSchema>(),
  });
  let queue: Promise<unknown> = Promise.resolve();
  return (address, wei) => {
    const credit = async () => {
      try {
        await client.request({ method: "anvil_addBalance", params: [address, toHex(wei)] });
        return { balance: await client.getBalance({ address }) };
      } catch (err) {
        throw toChainError(err);
      }
    };
    const result = queue.then(credit, credit);
    queue = result.catch(() => {});
    return result;
  };
}
