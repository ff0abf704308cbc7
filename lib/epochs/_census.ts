/**
 * The census (ARCHITECTURE §8.4): how many blobs each epoch holds, from a 1-byte range read per
 * blob, streamed with bounded concurrency like the engine.
 *
 * Labels: the epoch number (`"2"`), `"destroyed"` for a tag whose epoch was destroyed (the blob
 * can never be read again), `"unknown"` for a tag no epoch ever had or a blob too short to be an
 * envelope.
 *
 * @module
 */

import { DATA_CLASSES, EnvelopeEpochDestroyed, EnvelopeUnknownEpoch } from "../crypto/mod.ts";
import { ENVELOPE_OVERHEAD } from "../crypto/mod.ts";
import { isOmniHex } from "../identity/mod.ts";
import type { Census, EpochCounts } from "../state/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import {
  type ActorDirectory,
  actorHexesOf,
  DEFAULT_CONCURRENCY,
  drain,
  type EpochKeys,
  scanActors,
  type ScanItem,
} from "../reencrypt/mod.ts";

/** What {@linkcode takeCensus} needs. */
export interface CensusOptions {
  store: BlobStore;
  keys: Pick<EpochKeys, "epochForTag">;
  /** Also count this operator's actors separately (needs `actors`). */
  operatorOmni?: string;
  actors?: ActorDirectory;
  /**
   * `global` (default): list every key under `bots/`. `operator`: only the operator's actors
   * (cheaper; the result has no `global` counts and cannot serve the destroy guard).
   */
  scope?: "global" | "operator";
  concurrency?: number;
  signal?: AbortSignal;
  now?: () => Date;
}

/** A census stopped by its signal: a partial count would be worse than none. */
export class CensusCancelled extends Error {
  readonly code = "census_cancelled";
  constructor() {
    super("the census was cancelled before it finished");
    this.name = "CensusCancelled";
  }
}

/**
 * The label a blob's first byte and size count under.
 *
 * ```ts
 * censusLabel(2, 1053, (t) => keystore.epochForTag(t)); // "2"
 * censusLabel(undefined, 3, …); // "unknown"
 * ```
 */
export function censusLabel(
  firstByte: number | undefined,
  size: number,
  epochForTag: (tag: number) => number,
): string {
  if (firstByte === undefined || size < ENVELOPE_OVERHEAD) return "unknown";
  try {
    return String(epochForTag(firstByte));
  } catch (err) {
    if (err instanceof EnvelopeEpochDestroyed) return "destroyed";
    if (err instanceof EnvelopeUnknownEpoch) return "unknown";
    throw err;
  }
}

/**
 * Counts blobs per epoch. Any read that fails makes the whole census fail (an incomplete count
 * must never let the destroy guard pass); store errors are thrown as they are, so an expired
 * credential is still a `StoreCredentialsExpired`.
 *
 * ```ts
 * const census = await takeCensus({ store, keys: keystore, operatorOmni, actors });
 * census.global; // { "1": 0, "2": 5120 }
 * census.operator; // { "2": 40 }
 * await new KvCensusStore(state.kv).save(census);
 * ```
 */
export async function takeCensus(options: CensusOptions): Promise<Census> {
  const now = options.now ?? (() => new Date());
  const scope = options.scope ?? "global";
  if (options.operatorOmni !== undefined && options.actors === undefined) {
    throw new TypeError("counting an operator needs an actor directory");
  }
  if (scope === "operator" && options.operatorOmni === undefined) {
    throw new TypeError("an operator census needs operatorOmni");
  }
  // Taken before listing starts: a blob written after this may be missed, so this is the time
  // the destroy guard compares with the last write.
  const takenAt = now();
  const operatorActors = options.operatorOmni === undefined
    ? undefined
    : new Set(await actorHexesOf(options.actors!, options.operatorOmni));
  const global: EpochCounts = {};
  const operator: EpochCounts = {};
  const destroyedTags: EpochCounts = {};
  const source: AsyncIterable<ScanItem> = scope === "global"
    ? globalKeys(options.store)
    : scanActors(options.store, [...operatorActors!], DATA_CLASSES);
  const epochForTag = (tag: number) => options.keys.epochForTag(tag);
  let failure: unknown;
  const result = await drain({
    source,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    capacity: 512,
    stopped: () => failure !== undefined || options.signal?.aborted === true,
    work: async (item) => {
      try {
        const head = await options.store.getRange(item.key, 0, 0);
        if (head === null) return; // deleted since listed: not a blob any more
        const label = censusLabel(head.body[0], head.size, epochForTag);
        if (scope === "global") {
          global[label] = (global[label] ?? 0) + 1;
          if (label === "destroyed") {
            const tag = String(head.body[0]);
            destroyedTags[tag] = (destroyedTags[tag] ?? 0) + 1;
          }
        }
        if (
          operatorActors !== undefined && item.actorHex !== null &&
          operatorActors.has(item.actorHex)
        ) {
          operator[label] = (operator[label] ?? 0) + 1;
        }
      } catch (err) {
        failure ??= err;
      }
    },
  });
  failure ??= result.sourceError ?? result.workError;
  if (failure !== undefined) throw failure;
  if (options.signal?.aborted) throw new CensusCancelled();
  return {
    taken_at: takenAt.toISOString(),
    finished_at: now().toISOString(),
    scope,
    ...(scope === "global" ? { global, destroyed_tags: destroyedTags } : {}),
    ...(options.operatorOmni === undefined
      ? {}
      : { operator, operator_omni: options.operatorOmni }),
  };
}

async function* globalKeys(store: BlobStore): AsyncGenerator<ScanItem> {
  for await (const info of store.list("bots/")) {
    const actor = info.key.split("/")[1] ?? "";
    yield {
      key: info.key,
      size: info.size,
      actorHex: isOmniHex(actor) ? actor : null,
      dataClass: null,
    };
  }
}
