/**
 * The operator's chain transactions from the console: viem's wallet client over the injected
 * wallet (EIP-1193), the typed actions of lib/chain/actions, and a public client on the
 * service's RPC proxy for receipts. The islands import this module dynamically, only when an
 * operator sends something, so viem's wallet code never weighs on a page's first load.
 *
 * @module
 */

import {
  type Account,
  type Chain,
  createPublicClient,
  createWalletClient,
  custom,
  type Hash,
  http,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { ChainInfo } from "../lib/client/mod.ts";
import { normalizeAddress } from "../lib/identity/mod.ts";
import { injectedWallet } from "./_wallet.ts";

export { registerAgent, revokeAgent, revokeScope, setScope } from "../lib/chain/actions/mod.ts";
export { deviceKeyHash, serviceHash, signDevicePop } from "../lib/identity/mod.ts";

/** What an island needs to send a transaction as the signed-in operator. */
export interface OperatorChain {
  info: ChainInfo;
  wallet: WalletClient<Transport, Chain, Account>;
  /** Waits for the receipt; rejects when the transaction reverted. */
  confirm(hash: Hash): Promise<{ blockNumber: bigint }>;
}

/**
 * The injected wallet as `operator`'s (the signed-in address): refuses another account, since
 * a transaction from it would act for a different operator than the page shows.
 */
export async function operatorChain(operator: string): Promise<OperatorChain> {
  const provider = injectedWallet();
  if (!provider) {
    throw new Error(
      "No wallet found in this browser; transactions are sent from your wallet (window.ethereum).",
    );
  }
  const accounts = await provider.request({ method: "eth_requestAccounts" }) as string[];
  const account = accounts?.[0];
  if (!account) throw new Error("the wallet shared no account");
  if (normalizeAddress(account) !== normalizeAddress(operator)) {
    throw new Error(
      `Your wallet's account ${account} is not the signed-in operator ${operator}. ` +
        "Switch accounts in your wallet (or sign in again with this one).",
    );
  }
  const res = await fetch("/v1/chain");
  if (!res.ok) throw new Error(`the service's chain answered ${res.status}`);
  const info = await res.json() as ChainInfo;
  const chain: Chain = {
    id: info.chain_id,
    name: `AgentKeys chain ${info.chain_id}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: info.rpc_url ? [info.rpc_url] : [] } },
  };
  const wallet = createWalletClient({
    account: normalizeAddress(account),
    chain,
    transport: custom(provider),
  });
  // The service's proxy when it publishes one (the embedded chain), else the wallet's own RPC.
  const reader: PublicClient = createPublicClient({
    chain,
    transport: info.rpc_url ? http(info.rpc_url) : custom(provider),
  });
  return {
    info,
    wallet,
    async confirm(hash) {
      const receipt = await reader.waitForTransactionReceipt({ hash });
      if (receipt.status !== "success") {
        throw new Error(`the transaction ${hash} reverted in block ${receipt.blockNumber}`);
      }
      return { blockNumber: receipt.blockNumber };
    },
  };
}

/** A fresh device key and its account; the key never leaves the browser but as a download. */
export function newDevice() {
  const key = generatePrivateKey();
  return { key, account: privateKeyToAccount(key) };
}
