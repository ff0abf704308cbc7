/**
 * The operator's chain transactions as typed actions in the style of viem: each takes a wallet
 * client (with its account and chain) and the parameters of one contract function, simulates
 * the call (a refusal rejects with the contract's error name, before anything is sent), sends
 * it and returns the transaction hash. The service never sends these: operators sign them, from
 * `deno task cli`, the web console, or the tests' helpers.
 *
 * Browser-safe: only viem, lib/identity and the generated ABIs (a test checks the module graph),
 * so the console imports this entry, never `lib/chain/mod.ts`.
 *
 * ```ts
 * import { registerAgent, setScope } from "./lib/chain/actions/mod.ts";
 * const hash = await registerAgent(wallet, { address, label, generation, deviceKeyHash, devicePop });
 * await publicClient.waitForTransactionReceipt({ hash });
 * ```
 *
 * @module
 */

export { registerAgent } from "./registerAgent.ts";
export { revokeAgent } from "./revokeAgent.ts";
export { setScope } from "./setScope.ts";
export { revokeScope } from "./revokeScope.ts";
