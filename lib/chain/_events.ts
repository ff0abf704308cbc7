/**
 * The chain's identity events as a feed: one loop asks the node for its latest block every
 * `pollMs`, fetches the logs of AgentRegistry, ScopeRegistry and K3EpochCounter for the new
 * blocks, and hands them to every listener in block order, each batch once.
 *
 * The same loop is the chain client's clock: `ChainClient` answers reads from a cache keyed by the
 * block this feed last saw, instead of asking the node for the block number on every request
 * (which cost one RPC round trip per cap mint and per fetch). `sync()` brings the head up to date
 * at once; the service calls it after every transaction it relays or sends, and before it refuses
 * anything, so a change that widens access is never missed and one that narrows it is seen within
 * one poll.
 *
 * Polling rather than `eth_subscribe`: it works on every node, and its staleness is a number the
 * client can check (`headAt`) — a silent websocket cannot be told from a quiet chain.
 *
 * @module
 */

import { type Address, type Hex, parseEventLogs, type PublicClient } from "viem";
import { agentRegistryAbi, k3EpochCounterAbi, scopeRegistryAbi } from "./artifacts.ts";
import type { IdentityEvent } from "../identity/mod.ts";

export type { IdentityEvent };

/** Receives the events of each new range of blocks (possibly empty: the head moved). */
export type IdentityEventListener = (events: IdentityEvent[]) => void;

/** Options of {@linkcode ChainEventFeed}. */
export interface ChainEventFeedOptions {
  publicClient: Pick<PublicClient, "getBlockNumber" | "getLogs">;
  addresses: { AgentRegistry: Address; ScopeRegistry: Address; K3EpochCounter: Address };
  /** How often the loop asks for the latest block, ms. */
  pollMs: number;
  /** Where a failed poll is reported (the loop keeps going). */
  warn?: (message: string) => void;
  /** The clock, for tests. */
  now?: () => number;
}

/** Blocks per `eth_getLogs` call: nodes cap the range, and a long outage must not fail forever. */
const LOGS_RANGE_MAX = 1_000n;

const ABI = [...agentRegistryAbi, ...scopeRegistryAbi, ...k3EpochCounterAbi];

/** See the module documentation. */
export class ChainEventFeed {
  readonly pollMs: number;
  readonly #opts: ChainEventFeedOptions;
  readonly #listeners = new Set<IdentityEventListener>();
  #head: bigint | undefined;
  #headAt = -Infinity;
  #inFlight?: Promise<bigint>;
  #timer?: ReturnType<typeof setTimeout>;
  #running = false;
  #failing = false;

  constructor(options: ChainEventFeedOptions) {
    this.#opts = options;
    this.pollMs = options.pollMs;
  }

  /** The latest block seen, or undefined before the first successful poll. */
  get head(): bigint | undefined {
    return this.#head;
  }

  /**
   * The head when the last poll ended no more than `maxAgeMs` ago, else undefined: the caller
   * then asks the node itself.
   */
  freshHead(maxAgeMs = this.pollMs * 2 + 50): bigint | undefined {
    if (!this.#running || this.#head === undefined) return undefined;
    return this.#now() - this.#headAt <= maxAgeMs ? this.#head : undefined;
  }

  /** Starts the loop (idempotent); the first poll runs at once. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop();
  }

  /** Stops the loop; an in-flight poll finishes but schedules nothing. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Adds a listener and starts the loop. Events of blocks mined before the first poll are not
   * replayed. Returns the unsubscribe function.
   */
  subscribe(listener: IdentityEventListener): () => void {
    this.#listeners.add(listener);
    this.start();
    return () => void this.#listeners.delete(listener);
  }

  /**
   * Polls now (joining a poll already in flight if it started after the caller's change could have
   * been mined, else waiting for a new one) and resolves with the head it saw.
   */
  async sync(): Promise<bigint> {
    // A poll that started before this call may have read an older block number: wait for it, then
    // run a new one.
    if (this.#inFlight) await this.#inFlight.catch(() => {});
    return await this.#poll();
  }

  #loop(): void {
    if (!this.#running) return;
    this.#poll().catch(() => {}).finally(() => {
      if (this.#running) this.#timer = setTimeout(() => this.#loop(), this.pollMs);
    });
  }

  #poll(): Promise<bigint> {
    this.#inFlight ??= this.#advance().finally(() => this.#inFlight = undefined);
    return this.#inFlight;
  }

  async #advance(): Promise<bigint> {
    const started = this.#now();
    try {
      const latest = await this.#opts.publicClient.getBlockNumber({ cacheTime: 0 });
      const from = this.#head === undefined ? latest + 1n : this.#head + 1n;
      for (let lo = from; lo <= latest; lo += LOGS_RANGE_MAX) {
        const hi = lo + LOGS_RANGE_MAX - 1n < latest ? lo + LOGS_RANGE_MAX - 1n : latest;
        // The head moves only after a range's events were delivered, so a failure retries it.
        this.#emit(await readIdentityEvents(this.#opts, lo, hi));
        this.#head = hi;
      }
      this.#head ??= latest;
      this.#headAt = started;
      if (this.#failing) this.#opts.warn?.("chain event feed: polling again");
      this.#failing = false;
      return this.#head;
    } catch (err) {
      if (!this.#failing) this.#opts.warn?.(`chain event feed: ${(err as Error).message}`);
      this.#failing = true;
      throw err;
    }
  }

  #emit(events: IdentityEvent[]): void {
    for (const listener of this.#listeners) {
      try {
        listener(events);
      } catch (err) {
        this.#opts.warn?.(`chain event listener failed: ${(err as Error).message}`);
      }
    }
  }

  #now(): number {
    return (this.#opts.now ?? performance.now.bind(performance))();
  }
}

/**
 * The identity events of blocks `from`..`to` (inclusive), in block order, read in ranges of at
 * most 1,000 blocks: for a consumer that must not miss what happened while it was not running.
 */
export async function readIdentityEvents(
  source: Pick<ChainEventFeedOptions, "publicClient" | "addresses">,
  from: bigint,
  to: bigint,
): Promise<IdentityEvent[]> {
  const events: IdentityEvent[] = [];
  for (let lo = from; lo <= to; lo += LOGS_RANGE_MAX) {
    const hi = lo + LOGS_RANGE_MAX - 1n < to ? lo + LOGS_RANGE_MAX - 1n : to;
    const logs = await source.publicClient.getLogs({
      address: [
        source.addresses.AgentRegistry,
        source.addresses.ScopeRegistry,
        source.addresses.K3EpochCounter,
      ],
      fromBlock: lo,
      toBlock: hi,
    });
    events.push(...decodeIdentityEvents(logs));
  }
  return events;
}

/** The identity events in `logs` (other logs are ignored), in log order. */
export function decodeIdentityEvents(
  logs: Parameters<typeof parseEventLogs>[0]["logs"],
): IdentityEvent[] {
  const events: IdentityEvent[] = [];
  for (const log of parseEventLogs({ abi: ABI, logs, strict: true })) {
    const block = log.blockNumber ?? 0n;
    switch (log.eventName) {
      case "AgentRegistered":
      case "AgentRevoked":
        events.push({
          type: log.eventName === "AgentRegistered" ? "agent_registered" : "agent_revoked",
          operatorOmni: lower(log.args.operatorOmni),
          actorOmni: lower(log.args.actorOmni),
          deviceKeyHash: lower(log.args.deviceKeyHash),
          block,
        });
        break;
      case "ScopeSet":
      case "ScopeRevoked":
        events.push({
          type: log.eventName === "ScopeSet" ? "scope_set" : "scope_revoked",
          operatorOmni: lower(log.args.operatorOmni),
          actorOmni: lower(log.args.actorOmni),
          block,
        });
        break;
      case "K3Rotated":
      case "EpochDestroyed":
        events.push({
          type: log.eventName === "K3Rotated" ? "epoch_rotated" : "epoch_destroyed",
          epoch: Number(log.args.epoch),
          block,
        });
        break;
    }
  }
  return events;
}

function lower(hex: Hex): string {
  return hex.toLowerCase();
}
