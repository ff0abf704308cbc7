/**
 * Test-side chain helpers: a fresh anvil with the four contracts deployed, funded operator
 * wallets, and the operator transactions (register/revoke an agent, set/revoke a scope) that
 * the service never sends itself (operators sign their own transactions in their wallets).
 *
 * ```ts
 * await using chain = await startTestChain();
 * const op = await chain.newWallet();
 * const agent = await registerAgent(chain, op, "mail-bot");
 * await setScope(chain, op, agent.actorOmni, ["openai"], false);
 * ```
 *
 * @module
 */

import {
  type Account,
  type Address,
  BaseError,
  type Chain,
  ContractFunctionRevertedError,
  createPublicClient,
  createTestClient,
  createWalletClient,
  decodeErrorResult,
  type Hex,
  http,
  parseEther,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { ChainClient, type ContractAddresses } from "../../lib/chain/mod.ts";
import { type AnvilProcess, startAnvil } from "../../lib/chain/_anvil.ts";
import { chainDefinition } from "../../lib/chain/_client.ts";
import { deployContracts } from "../../lib/chain/_embedded.ts";
import { agentRegistryAbi, ARTIFACTS } from "../../lib/chain/artifacts.ts";
import * as actions from "../../lib/chain/actions/mod.ts";
import { anvilFaucet, type Faucet } from "../../lib/chain/_faucet.ts";
import {
  deviceKeyHash,
  operatorOmniOf,
  serviceHash,
  signDevicePop,
} from "../../lib/identity/mod.ts";

/** An operator (or any) wallet with ether on the test chain. */
export interface TestWallet {
  account: Account & { address: Address };
  address: Address;
  privateKey: Hex;
  omni: Hex;
  wallet: WalletClient<Transport, Chain, Account>;
}

/** A fresh anvil with deployed contracts. Dispose (or `close()`) to stop anvil. */
export interface TestChain extends AsyncDisposable {
  anvil: AnvilProcess;
  rpcUrl: string;
  chainId: number;
  addresses: ContractAddresses;
  governance: TestWallet;
  /** A ChainClient with the governance key. */
  client: ChainClient;
  /** The dev faucet, as the embedded chain has it (`anvil_addBalance`). */
  faucet: Faucet;
  publicClient: PublicClient;
  /** anvil's cheat-code RPCs (setBalance, mine, snapshot). */
  testClient: ReturnType<typeof createTestClient>;
  /** A new random key with 100 ether. */
  newWallet(): Promise<TestWallet>;
  close(): Promise<void>;
}

const CHAIN_ID = 31337;

/**
 * Starts anvil on a free port (no state file) and deploys the contracts with a generated
 * governance key.
 *
 * ```ts
 * await using chain = await startTestChain();
 * ```
 */
export async function startTestChain(options: { blockTime?: number } = {}): Promise<TestChain> {
  const anvil = await startAnvil({ chainId: CHAIN_ID, blockTime: options.blockTime });
  try {
    const chain = chainDefinition(CHAIN_ID, anvil.rpcUrl);
    const publicClient = createPublicClient({
      chain,
      transport: http(anvil.rpcUrl),
      pollingInterval: 50,
      cacheTime: 0,
    }) as PublicClient;
    const testClient = createTestClient({ chain, mode: "anvil", transport: http(anvil.rpcUrl) });
    const newWallet = async (): Promise<TestWallet> => {
      const privateKey = generatePrivateKey();
      const account = privateKeyToAccount(privateKey);
      await testClient.setBalance({ address: account.address, value: parseEther("100") });
      return {
        account,
        address: account.address,
        privateKey,
        omni: operatorOmniOf(account.address),
        wallet: createWalletClient({ account, chain, transport: http(anvil.rpcUrl) }),
      };
    };
    const governance = await newWallet();
    const { addresses } = await deployContracts({
      rpcUrl: anvil.rpcUrl,
      chainId: CHAIN_ID,
      deployerKey: governance.privateKey,
    });
    const client = new ChainClient({
      rpcUrl: anvil.rpcUrl,
      chainId: CHAIN_ID,
      addresses,
      governanceKey: governance.privateKey,
      pollingInterval: 50,
    });
    const close = () => anvil.stop();
    return {
      anvil,
      rpcUrl: anvil.rpcUrl,
      chainId: CHAIN_ID,
      addresses,
      governance,
      client,
      faucet: anvilFaucet(anvil.rpcUrl, CHAIN_ID),
      publicClient,
      testClient,
      newWallet,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}

/** The parts of a chain the operator helpers need (a TestChain, or an embedded chain's). */
export interface ChainHandle {
  addresses: ContractAddresses;
  publicClient: PublicClient;
}

/** Waits for a transaction and fails the test when it reverted. */
export async function mined(chain: ChainHandle, hash: Hex): Promise<TransactionReceipt> {
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
  return receipt;
}

/** A registered agent: its device key and identifiers. */
export interface TestAgent {
  label: string;
  generation: number;
  deviceKey: Hex;
  deviceAddress: Address;
  deviceKeyHash: Hex;
  actorOmni: Hex;
  receipt: TransactionReceipt;
}

/**
 * Registers an agent from the operator's wallet with a fresh device key (or `deviceKey`), and
 * returns the actor omni that the contract computed (read back from the device record).
 *
 * ```ts
 * const agent = await registerAgent(chain, op, "mail-bot", 0);
 * ```
 */
export async function registerAgent(
  chain: ChainHandle,
  operator: TestWallet,
  label: string,
  generation = 0,
  deviceKey: Hex = generatePrivateKey(),
): Promise<TestAgent> {
  const device = privateKeyToAccount(deviceKey);
  const deviceAddress = device.address;
  const hash = deviceKeyHash(deviceAddress);
  const devicePop = await signDevicePop(device, {
    chainId: operator.wallet.chain.id,
    registry: chain.addresses.AgentRegistry,
    operatorOmni: operator.omni,
    label,
    generation,
  });
  const txHash = await actions.registerAgent(operator.wallet, {
    address: chain.addresses.AgentRegistry,
    label,
    generation,
    deviceKeyHash: hash,
    devicePop,
  });
  const receipt = await mined(chain, txHash);
  const [, actorOmni] = await chain.publicClient.readContract({
    address: chain.addresses.AgentRegistry,
    abi: agentRegistryAbi,
    functionName: "getDevice",
    args: [hash],
  });
  return {
    label,
    generation,
    deviceKey,
    deviceAddress,
    deviceKeyHash: hash,
    actorOmni,
    receipt,
  };
}

/** Revokes an agent from the operator's wallet. */
export async function revokeAgent(
  chain: ChainHandle,
  operator: TestWallet,
  deviceKeyHash: Hex,
): Promise<TransactionReceipt> {
  return await mined(
    chain,
    await actions.revokeAgent(operator.wallet, {
      address: chain.addresses.AgentRegistry,
      deviceKeyHash,
    }),
  );
}

/**
 * Sets an agent's scope from the operator's wallet; `services` are names (hashed here).
 *
 * ```ts
 * await setScope(chain, op, agent.actorOmni, ["openai", "github"], true);
 * ```
 */
export async function setScope(
  chain: ChainHandle,
  operator: TestWallet,
  actorOmni: Hex,
  services: string[],
  readOnly: boolean,
): Promise<TransactionReceipt> {
  return await mined(
    chain,
    await actions.setScope(operator.wallet, {
      address: chain.addresses.ScopeRegistry,
      actorOmni,
      serviceHashes: services.map(serviceHash),
      readOnly,
    }),
  );
}

/** Revokes an agent's scope from the operator's wallet. */
export async function revokeScope(
  chain: ChainHandle,
  operator: TestWallet,
  actorOmni: Hex,
): Promise<TransactionReceipt> {
  return await mined(
    chain,
    await actions.revokeScope(operator.wallet, {
      address: chain.addresses.ScopeRegistry,
      actorOmni,
    }),
  );
}

/**
 * A TestWallet for a key on a chain given by URL (used with the embedded chain, whose
 * operator wallets the tests fund through the faucet).
 */
export function walletFor(rpcUrl: string, chainId: number, privateKey: Hex): TestWallet {
  const account = privateKeyToAccount(privateKey);
  return {
    account,
    address: account.address,
    privateKey,
    omni: operatorOmniOf(account.address),
    wallet: createWalletClient({
      account,
      chain: chainDefinition(chainId, rpcUrl),
      transport: http(rpcUrl),
    }),
  };
}

/**
 * Asserts that `promise` rejects with the contract's custom error `errorName` (decoded by viem
 * from the ABI), and returns the error's arguments.
 *
 * ```ts
 * await expectRevert(registerAgent(chain, op, "Bad"), "InvalidLabel");
 * ```
 */
export async function expectRevert(
  promise: Promise<unknown>,
  errorName: string,
): Promise<readonly unknown[]> {
  let err: unknown;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`expected a revert with ${errorName}, but it succeeded`);
  // Our own ChainRevertError (from ChainClient) carries the name directly.
  const own = err as { errorName?: string; args?: readonly unknown[] };
  if (typeof own.errorName === "string") {
    if (own.errorName !== errorName) {
      throw new Error(`expected ${errorName}, got ${own.errorName}`, { cause: err });
    }
    return own.args ?? [];
  }
  if (err instanceof BaseError) {
    const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError && revert.data) {
      if (revert.data.errorName !== errorName) {
        throw new Error(`expected ${errorName}, got ${revert.data.errorName}`, { cause: err });
      }
      return revert.data.args ?? [];
    }
    // viem does not decode reverts of contract creation (no function ABI to go by): decode the
    // raw revert data against every contract's errors.
    const raw = err.walk((e) => typeof (e as { data?: unknown }).data === "string");
    const data = (raw as { data?: string } | null)?.data;
    if (data?.startsWith("0x")) {
      for (const { abi } of Object.values(ARTIFACTS)) {
        try {
          const decoded = decodeErrorResult({ abi, data: data as Hex });
          if (decoded.errorName !== errorName) {
            throw new Error(`expected ${errorName}, got ${decoded.errorName}`, { cause: err });
          }
          return decoded.args ?? [];
        } catch (e) {
          if ((e as Error).message.startsWith("expected ")) throw e;
        }
      }
    }
  }
  throw new Error(`expected a revert with ${errorName}, got ${String(err)}`, { cause: err });
}
