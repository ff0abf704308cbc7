/**
 * `ChainClient`: typed reads of the identity contracts (devices, scopes, epochs) and the
 * governance writes the service itself sends (rotate, record a destroyed epoch, anchor the
 * audit log), over viem.
 *
 * Reads are cached for at most one block: a read learns the latest block number and answers from
 * the cache only if the same call was already made at that very block (the call itself runs
 * pinned to that block), so concurrent identical reads in one block share one `eth_call`.
 * Without `headPollMs` every read asks the node for the block number, so a revocation is visible
 * in the first read that starts after its transaction was mined. With `headPollMs` (the service)
 * the block number comes from the {@linkcode ChainEventFeed}'s poll instead — no round trip per
 * request — and {@linkcode ChainClient.sync} brings it up to date at once: the service syncs after
 * every transaction it relays or sends and before it refuses anything, so a widening change is
 * never missed and a narrowing one written straight to the node is seen within one poll.
 *
 * Operator writes (register an agent, set a scope) are not here: operators sign their own
 * transactions in their wallets.
 *
 * ```ts
 * const chain = new ChainClient({ rpcUrl, chainId: 31337, addresses, governanceKey });
 * const device = await chain.getDevice(deviceKeyHash(agentAddress));
 * const { epoch, txHash } = await chain.advanceEpoch();
 * ```
 *
 * @module
 */

import { CodedError } from "../errors/mod.ts";
import {
  type Abi,
  type Address,
  BaseError,
  type Chain,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hash,
  type Hex,
  http,
  parseEventLogs,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { simulateContract, writeContract } from "viem/actions";
import {
  agentRegistryAbi,
  auditAnchorAbi,
  k3EpochCounterAbi,
  scopeRegistryAbi,
  vaultAnchorAbi,
} from "./artifacts.ts";
import type { DeviceRecord, IdentityReader, ScopeRecord } from "../identity/mod.ts";
import {
  ChainEventFeed,
  type IdentityEvent,
  type IdentityEventListener,
  readIdentityEvents,
} from "./_events.ts";

// The records are lib/identity's (the port this client implements); re-exported for lib/chain users.
export type { DeviceRecord, ScopeRecord };

/** Addresses of the four deployed contracts. */
export interface ContractAddresses {
  AgentRegistry: Address;
  ScopeRegistry: Address;
  K3EpochCounter: Address;
  AuditAnchor: Address;
  /**
   * Pointer anchors (ARCHITECTURE §13). Deployed after the four identity contracts (an existing
   * embedded chain gains it at start); absent on an external chain without AGENTKEYS_VAULT_ANCHOR.
   */
  VaultAnchor?: Address;
}

/** The contract names, in deployment order. */
export const CONTRACTS = [
  "AgentRegistry",
  "ScopeRegistry",
  "K3EpochCounter",
  "AuditAnchor",
] as const;

/** Every code an error of lib/chain carries. */
export const CHAIN_ERROR_CODES = [
  // A contract refused, or a transaction was mined but reverted.
  "chain_revert",
  "chain_unavailable",
  // The chain answered something this client did not expect (an event missing from a receipt).
  "chain_failed",
  "no_governance_key",
  "chain_config",
  "embedded_chain",
  "anvil_install_failed",
  "anvil_start_failed",
] as const;
export type ChainErrorCode = typeof CHAIN_ERROR_CODES[number];

/** Base class of this module's errors. */
export class ChainError extends CodedError<ChainErrorCode> {}

/** A contract refused the call; `errorName` is the Solidity custom error (e.g. `EpochNotPast`). */
export class ChainRevertError extends ChainError {
  constructor(
    readonly errorName: string,
    readonly args: readonly unknown[],
    message: string,
    options?: ErrorOptions,
  ) {
    super("chain_revert", message, options);
    this.name = "ChainRevertError";
  }
}

/** The node could not be reached or answered with an error that is not a contract revert. */
export class ChainUnavailableError extends ChainError {
  constructor(message: string, options?: ErrorOptions) {
    super("chain_unavailable", message, options);
    this.name = "ChainUnavailableError";
  }
}

/** A governance write was asked of a client constructed without the governance key. */
export class NoGovernanceKeyError extends ChainError {
  constructor() {
    super(
      "no_governance_key",
      "this chain client has no governance key (AGENTKEYS_GOVERNANCE_KEY)",
    );
    this.name = "NoGovernanceKeyError";
  }
}

/** The external chain disagrees with the configuration (wrong chain id, no contract code). */
export class ChainConfigError extends ChainError {
  constructor(message: string) {
    super("chain_config", message);
    this.name = "ChainConfigError";
  }
}

/** Options of {@linkcode ChainClient}. */
export interface ChainClientOptions {
  rpcUrl: string;
  chainId: number;
  addresses: ContractAddresses;
  /** 0x + 64 hex; needed for advanceEpoch, recordEpochDestroyed and anchor. */
  governanceKey?: Hex;
  /** How often to poll for receipts, ms (default 200; anvil mines at once). */
  pollingInterval?: number;
  /**
   * Take the block number of reads from a background poll every this many ms instead of one
   * `eth_blockNumber` per read (see the module doc). Unset: ask the node on every read.
   */
  headPollMs?: number;
}

/** A viem chain object for an id and RPC URL (viem wants one to sign transactions). */
export function chainDefinition(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: `agentkeys-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/** Keeps at most this many cached reads for one block, so a flood of distinct reads is bounded. */
const CACHE_LIMIT = 10_000;

/** Typed access to the identity contracts. See the module doc for the cache's semantics. */
export class ChainClient implements IdentityReader {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly addresses: Readonly<ContractAddresses>;
  /** The governance account's address, when the key was given. */
  readonly governance?: Address;
  readonly chain: Chain;
  readonly publicClient: PublicClient<Transport, Chain>;
  readonly #account?: PrivateKeyAccount;
  readonly #pollingInterval: number;
  #cacheBlock = -1n;
  #cache = new Map<string, Promise<unknown>>();
  #blockInFlight?: Promise<bigint>;
  readonly #feed: ChainEventFeed;
  readonly #trackHead: boolean;
  /** Transactions this client sends run one at a time, so two never pick the same nonce. */
  #writeQueue: Promise<unknown> = Promise.resolve();

  constructor(options: ChainClientOptions) {
    this.rpcUrl = options.rpcUrl;
    this.chainId = options.chainId;
    this.addresses = Object.freeze({ ...options.addresses });
    this.#pollingInterval = options.pollingInterval ?? 200;
    this.chain = chainDefinition(options.chainId, options.rpcUrl);
    // cacheTime 0: viem otherwise reuses a block number for up to pollingInterval, which would
    // let a read miss a revocation mined a moment ago.
    this.publicClient = createPublicClient({
      chain: this.chain,
      transport: http(options.rpcUrl, { retryCount: 1 }),
      cacheTime: 0,
      pollingInterval: this.#pollingInterval,
    });
    if (options.governanceKey !== undefined) {
      this.#account = privateKeyToAccount(options.governanceKey);
      this.governance = this.#account.address;
    }
    this.#trackHead = options.headPollMs !== undefined;
    this.#feed = new ChainEventFeed({
      publicClient: this.publicClient,
      addresses: this.addresses,
      pollMs: options.headPollMs ?? 250,
    });
  }

  /**
   * Calls `listener` with the identity events (registrations, revocations, scope changes, epoch
   * rotations and destructions) of every new block, in block order, within one poll of their
   * block; starts the feed. Returns the unsubscribe function.
   *
   * ```ts
   * const stop = chain.onIdentityEvents((events) => events.forEach(console.log));
   * ```
   */
  onIdentityEvents(listener: IdentityEventListener): () => void {
    return this.#feed.subscribe(listener);
  }

  /**
   * Brings the client's view up to the node's latest block now (with `headPollMs`; otherwise every
   * read already asks the node). Call it after a transaction was mined and before refusing.
   */
  async sync(): Promise<void> {
    if (!this.#trackHead) return;
    this.#feed.start();
    await this.#feed.sync().catch((err) => Promise.reject(toChainError(err)));
  }

  /**
   * Waits (up to `timeoutMs`) until transaction `hash` is mined, then {@linkcode sync}s: what the
   * service relays is visible to the sender's next request. A transaction not mined in time (an
   * external chain's block time) is left to the poll.
   */
  async syncAfter(hash: Hex, timeoutMs = 2_000): Promise<void> {
    if (!this.#trackHead) return;
    const until = performance.now() + timeoutMs;
    // Backing off: anvil mines within milliseconds, and a transaction that stays pending (a
    // future nonce) must not turn one relayed request into hundreds of node calls.
    for (let delay = 5; performance.now() < until; delay = Math.min(delay * 2, 250)) {
      const receipt = await this.publicClient.getTransactionReceipt({ hash }).catch(() => null);
      if (receipt) break;
      await new Promise((r) => setTimeout(r, Math.min(delay, until - performance.now())));
    }
    await this.sync();
  }

  /**
   * The identity events of blocks `from`..`to` (inclusive), read now (not from the feed): what a
   * consumer missed while it was not running.
   */
  async identityEventsBetween(from: bigint, to: bigint): Promise<IdentityEvent[]> {
    try {
      return await readIdentityEvents(
        { publicClient: this.publicClient, addresses: this.addresses },
        from,
        to,
      );
    } catch (err) {
      throw toChainError(err);
    }
  }

  /** The node's latest block number, asked now. */
  async latestBlock(): Promise<bigint> {
    try {
      return await this.publicClient.getBlockNumber({ cacheTime: 0 });
    } catch (err) {
      throw toChainError(err);
    }
  }

  /** Stops the background poll (the event feed); reads keep working, asking the node each time. */
  close(): void {
    this.#feed.stop();
  }

  /**
   * The device registered under `deviceKeyHash`, or null when there is none.
   *
   * ```ts
   * const d = await chain.getDevice(deviceKeyHash(agentAddress));
   * if (!d || d.revoked) throw new Error("unknown or revoked device");
   * ```
   */
  async getDevice(deviceKeyHash: Hex): Promise<DeviceRecord | null> {
    const [operatorOmni, actorOmni, label, generation, revoked, registeredAt] = await this.#read(
      `getDevice:${deviceKeyHash}`,
      (blockNumber) =>
        this.publicClient.readContract({
          address: this.addresses.AgentRegistry,
          abi: agentRegistryAbi,
          functionName: "getDevice",
          args: [deviceKeyHash],
          blockNumber,
        }),
    );
    if (/^0x0{64}$/.test(operatorOmni)) return null;
    return {
      deviceKeyHash,
      operatorOmni,
      actorOmni,
      label,
      generation,
      revoked,
      registeredAt: Number(registeredAt),
    };
  }

  /**
   * Every device key hash an operator registered (revoked ones included), oldest first.
   *
   * ```ts
   * const hashes = await chain.agentsOf(operatorOmniOf(wallet));
   * ```
   */
  async agentsOf(operatorOmni: Hex): Promise<Hex[]> {
    const list = await this.#read(
      `agentsOf:${operatorOmni}`,
      (blockNumber) =>
        this.publicClient.readContract({
          address: this.addresses.AgentRegistry,
          abi: agentRegistryAbi,
          functionName: "agentsOf",
          args: [operatorOmni],
          blockNumber,
        }),
    );
    return [...list];
  }

  /**
   * Whether a service is in an agent's scope, and whether that scope is read-only. False for
   * revoked agents (ScopeRegistry decides that on chain).
   *
   * ```ts
   * const { allowed, readOnly } = await chain.isServiceInScope(op, actor, serviceHash("openai"));
   * ```
   */
  async isServiceInScope(
    operatorOmni: Hex,
    actorOmni: Hex,
    serviceHash: Hex,
  ): Promise<{ allowed: boolean; readOnly: boolean }> {
    const [allowed, readOnly] = await this.#read(
      `isServiceInScope:${operatorOmni}:${actorOmni}:${serviceHash}`,
      (blockNumber) =>
        this.publicClient.readContract({
          address: this.addresses.ScopeRegistry,
          abi: scopeRegistryAbi,
          functionName: "isServiceInScope",
          args: [operatorOmni, actorOmni, serviceHash],
          blockNumber,
        }),
    );
    return { allowed, readOnly };
  }

  /**
   * The stored scope of an agent (empty and `updatedAt: 0` when never set).
   *
   * ```ts
   * const { serviceHashes, readOnly } = await chain.getScope(op, actor);
   * ```
   */
  async getScope(operatorOmni: Hex, actorOmni: Hex): Promise<ScopeRecord> {
    const [serviceHashes, readOnly, updatedAt] = await this.#read(
      `getScope:${operatorOmni}:${actorOmni}`,
      (blockNumber) =>
        this.publicClient.readContract({
          address: this.addresses.ScopeRegistry,
          abi: scopeRegistryAbi,
          functionName: "getScope",
          args: [operatorOmni, actorOmni],
          blockNumber,
        }),
    );
    return { serviceHashes: [...serviceHashes], readOnly, updatedAt: Number(updatedAt) };
  }

  /**
   * The current K3 epoch as recorded on chain (1 right after deployment).
   *
   * ```ts
   * const epoch = await chain.currentEpoch();
   * ```
   */
  async currentEpoch(): Promise<number> {
    const epoch = await this.#read("currentEpoch", (blockNumber) =>
      this.publicClient.readContract({
        address: this.addresses.K3EpochCounter,
        abi: k3EpochCounterAbi,
        functionName: "currentEpoch",
        blockNumber,
      }));
    return Number(epoch);
  }

  /**
   * When an epoch started and when its destruction was recorded (unix seconds; 0 = not yet).
   *
   * ```ts
   * const { startedAt, destroyedAt } = await chain.epochInfo(1);
   * ```
   */
  async epochInfo(epoch: number): Promise<{ startedAt: number; destroyedAt: number }> {
    const [startedAt, destroyedAt] = await this.#read(
      `epochInfo:${epoch}`,
      (blockNumber) =>
        Promise.all([
          this.publicClient.readContract({
            address: this.addresses.K3EpochCounter,
            abi: k3EpochCounterAbi,
            functionName: "epochStartedAt",
            args: [BigInt(epoch)],
            blockNumber,
          }),
          this.publicClient.readContract({
            address: this.addresses.K3EpochCounter,
            abi: k3EpochCounterAbi,
            functionName: "epochDestroyedAt",
            args: [BigInt(epoch)],
            blockNumber,
          }),
        ]),
    );
    return { startedAt: Number(startedAt), destroyedAt: Number(destroyedAt) };
  }

  /**
   * The newest audit anchor (zeros before the first).
   *
   * ```ts
   * const { head, count } = await chain.latestAnchor();
   * ```
   */
  async latestAnchor(): Promise<{ head: Hex; count: number; anchoredAt: number }> {
    const [head, count, anchoredAt] = await this.#read(
      "latestAnchor",
      (blockNumber) =>
        this.publicClient.readContract({
          address: this.addresses.AuditAnchor,
          abi: auditAnchorAbi,
          functionName: "latestAnchor",
          blockNumber,
        }),
    );
    return { head, count: Number(count), anchoredAt: Number(anchoredAt) };
  }

  /**
   * Records a K3 rotation on chain (governance) and returns the new epoch from the mined
   * `K3Rotated` event, after the receipt.
   *
   * ```ts
   * const { epoch, txHash } = await chain.advanceEpoch();
   * ```
   */
  async advanceEpoch(): Promise<{ epoch: number; txHash: Hex }> {
    const receipt = await this.#governanceWrite(async (wallet) => {
      const { request } = await simulateContract(wallet, {
        account: wallet.account,
        address: this.addresses.K3EpochCounter,
        abi: k3EpochCounterAbi,
        functionName: "advanceEpoch",
      });
      return await writeContract(wallet, request);
    });
    const [event] = parseEventLogs({
      abi: k3EpochCounterAbi,
      eventName: "K3Rotated",
      logs: receipt.logs,
    });
    if (!event) {
      throw new ChainError(
        "chain_failed",
        `advanceEpoch ${receipt.transactionHash} emitted no K3Rotated`,
      );
    }
    return { epoch: Number(event.args.epoch), txHash: receipt.transactionHash };
  }

  /**
   * Records that the key of a past epoch was destroyed (governance). Reverts (as
   * {@linkcode ChainRevertError}) for the current or a future epoch, and for one already recorded.
   *
   * ```ts
   * await chain.recordEpochDestroyed(1);
   * ```
   */
  async recordEpochDestroyed(epoch: number): Promise<{ txHash: Hex }> {
    const receipt = await this.#governanceWrite(async (wallet) => {
      const { request } = await simulateContract(wallet, {
        account: wallet.account,
        address: this.addresses.K3EpochCounter,
        abi: k3EpochCounterAbi,
        functionName: "recordEpochDestroyed",
        args: [BigInt(epoch)],
      });
      return await writeContract(wallet, request);
    });
    return { txHash: receipt.transactionHash };
  }

  /**
   * Anchors the audit log's hash chain: `head` is the hash of entry number `count`, which must
   * be larger than the previous anchor's (governance).
   *
   * ```ts
   * await chain.anchor(headHash, 1024);
   * ```
   */
  async anchor(head: Hex, count: number): Promise<{ txHash: Hex; blockNumber: number }> {
    const receipt = await this.#governanceWrite(async (wallet) => {
      const { request } = await simulateContract(wallet, {
        account: wallet.account,
        address: this.addresses.AuditAnchor,
        abi: auditAnchorAbi,
        functionName: "anchor",
        args: [head, BigInt(count)],
      });
      return await writeContract(wallet, request);
    });
    return { txHash: receipt.transactionHash, blockNumber: Number(receipt.blockNumber) };
  }

  /**
   * Anchors the pointers' Merkle root after change number `seq` (governance; `seq` must grow).
   *
   * ```ts
   * const { txHash, blockNumber } = await chain.anchorPointers(root, 1200, 950);
   * ```
   */
  async anchorPointers(
    root: Hex,
    seq: number,
    count: number,
  ): Promise<{ txHash: Hex; blockNumber: number }> {
    const address = this.#vaultAnchor();
    const receipt = await this.#governanceWrite(async (wallet) => {
      const { request } = await simulateContract(wallet, {
        account: wallet.account,
        address,
        abi: vaultAnchorAbi,
        functionName: "anchorPointers",
        args: [root, BigInt(seq), BigInt(count)],
      });
      return await writeContract(wallet, request);
    });
    return { txHash: receipt.transactionHash, blockNumber: Number(receipt.blockNumber) };
  }

  /** The newest pointer anchor (zeros before the first); uncached, for the start-up check. */
  async latestPointerAnchor(): Promise<{ root: Hex; seq: number; count: number }> {
    try {
      const [root, seq, count] = await this.publicClient.readContract({
        address: this.#vaultAnchor(),
        abi: vaultAnchorAbi,
        functionName: "latestAnchor",
      });
      return { root, seq: Number(seq), count: Number(count) };
    } catch (err) {
      throw toChainError(err);
    }
  }

  #vaultAnchor(): Address {
    if (!this.addresses.VaultAnchor) {
      throw new ChainError("chain_config", "no VaultAnchor contract is configured");
    }
    return this.addresses.VaultAnchor;
  }

  /** Every contract's address and ABI, for `GET /v1/chain`. */
  contracts(): Record<(typeof CONTRACTS)[number], { address: Address; abi: Abi }> {
    return {
      AgentRegistry: { address: this.addresses.AgentRegistry, abi: agentRegistryAbi },
      ScopeRegistry: { address: this.addresses.ScopeRegistry, abi: scopeRegistryAbi },
      K3EpochCounter: { address: this.addresses.K3EpochCounter, abi: k3EpochCounterAbi },
      AuditAnchor: { address: this.addresses.AuditAnchor, abi: auditAnchorAbi },
    };
  }

  /**
   * The one-block read cache: `key` names the call and its arguments; `read` performs it at
   * the given block. Entries of older blocks are dropped when a newer block is seen.
   */
  async #read<T>(key: string, read: (blockNumber: bigint) => Promise<T>): Promise<T> {
    let blockNumber: bigint;
    try {
      blockNumber = await this.#latestBlock();
    } catch (err) {
      throw toChainError(err);
    }
    const run = () => read(blockNumber).catch((err) => Promise.reject(toChainError(err)));
    // A read that learnt an older block than the cache's (it raced a newer one) is answered
    // directly: caching it would mix blocks.
    if (blockNumber < this.#cacheBlock) return await run();
    if (blockNumber > this.#cacheBlock || this.#cache.size >= CACHE_LIMIT) {
      this.#cache.clear();
      this.#cacheBlock = blockNumber;
    }
    let pending = this.#cache.get(key) as Promise<T> | undefined;
    if (!pending) {
      pending = run();
      this.#cache.set(key, pending);
      // Failures are not cached: the next read retries.
      pending.catch(() => {
        if (this.#cache.get(key) === pending) this.#cache.delete(key);
      });
    }
    return await pending;
  }

  /**
   * The node's latest block number. Concurrent callers share one in-flight `eth_blockNumber`:
   * under load that turns one RPC per read into one per round trip, and a joined request is at
   * most one round trip old, which keeps the "at most one block" promise.
   */
  #latestBlock(): Promise<bigint> {
    if (this.#trackHead) {
      this.#feed.start();
      const head = this.#feed.freshHead();
      if (head !== undefined) return Promise.resolve(head);
    }
    this.#blockInFlight ??= this.publicClient.getBlockNumber({ cacheTime: 0 }).finally(() => {
      this.#blockInFlight = undefined;
    });
    return this.#blockInFlight;
  }

  /**
   * Sends one governance transaction: `send` gets a wallet of the governance account and must
   * simulate before it writes, so that a refusal surfaces as the contract's custom error
   * (decoded from the ABI) instead of a failed transaction that costs gas.
   */
  #governanceWrite(
    send: (wallet: WalletClient<Transport, Chain, PrivateKeyAccount>) => Promise<Hash>,
  ): Promise<TransactionReceipt> {
    const account = this.#account;
    if (!account) return Promise.reject(new NoGovernanceKeyError());
    return this.#queued(async () => {
      try {
        const wallet = createWalletClient({
          account,
          chain: this.chain,
          transport: http(this.rpcUrl),
        });
        return await this.#receipt(await send(wallet));
      } catch (err) {
        throw toChainError(err);
      }
    });
  }

  /**
   * Runs transaction senders one at a time, in call order, so that no two pick the same nonce.
   * A failure does not block the queue.
   */
  #queued<T>(send: () => Promise<T>): Promise<T> {
    const result = this.#writeQueue.then(send, send);
    this.#writeQueue = result.catch(() => {});
    return result;
  }

  async #receipt(hash: Hex): Promise<TransactionReceipt> {
    const receipt = await this.publicClient.waitForTransactionReceipt({
      hash,
      pollingInterval: this.#pollingInterval,
    });
    if (receipt.status !== "success") {
      throw new ChainError("chain_revert", `transaction ${hash} was mined but reverted`);
    }
    // Our own change (an epoch rotation) is visible to our next read.
    await this.sync().catch(() => {});
    return receipt;
  }
}

/**
 * Maps a viem error to this module's typed errors: a contract revert becomes
 * {@linkcode ChainRevertError} with the custom error's name; anything else from viem becomes
 * {@linkcode ChainUnavailableError}. Errors that are already typed pass through.
 *
 * ```ts
 * try { await publicClient.readContract(...) } catch (err) { throw toChainError(err) }
 * ```
 */
export function toChainError(err: unknown): Error {
  if (err instanceof ChainError) return err;
  if (err instanceof BaseError) {
    const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError) {
      const name = revert.data?.errorName ?? revert.reason ?? "unknown";
      return new ChainRevertError(
        name,
        revert.data?.args ?? [],
        `contract refused the call: ${name}${
          revert.data?.args ? `(${revert.data.args.map(String).join(", ")})` : ""
        }`,
        { cause: err },
      );
    }
    return new ChainUnavailableError(err.shortMessage, { cause: err });
  }
  return err instanceof Error ? err : new ChainError("chain_failed", String(err));
}
