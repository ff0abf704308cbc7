/**
 * The census (ARCHITECTURE §8.4): how many blobs each epoch holds, from a 1-byte range read per
 * blob, streamed with bounded concurrency like the engine.
 *
 * Labels: the epoch number (`"2"`), `"destroyed"` for a tag whose epoch was destroyed (the blob
 * can never be read again), `"unknown"` for a tag no epoch ever had or a blob too short to be an
 * envelope, `"legacy"` for a blob of the reference implementation's wallet-keyed layout (issue 13:
 * a v1 key, or a credentials blob starting with 1 or 2 that does not authenticate under the epoch
 * that byte names — see lib/worker/_legacy.ts). Legacy blobs never count under an epoch, so they
 * neither keep epoch 1 or 2 alive nor hide among its blobs. Telling the v2 collision apart needs
 * the whole blob: credentials whose first byte is 1 or 2 are read in full (once a deployment has
 * rotated past epoch 2, almost none); everything else stays a 1-byte read.
 *
 * @module
 */

import { DATA_CLASSES, EnvelopeEpochDestroyed, EnvelopeUnknownEpoch } from "../crypto/mod.ts";
import { ENVELOPE_OVERHEAD } from "../crypto/mod.ts";
import { isOmniHex } from "../identity/mod.ts";
import type { Census, EpochCounts } from "../state/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import {
  isLegacyV1Key,
  type KeyProvider,
  mayBeLegacy,
  parseBlobKey,
  provenEnvelope,
} from "../worker/mod.ts";
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
  /**
   * With KEK access (the keystore), credentials that could be legacy are authenticated (see the
   * module doc); with only `epochForTag`, every blob is labelled by its first byte.
   */
  keys: Pick<EpochKeys, "epochForTag"> & Partial<KeyProvider>;
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
        const label = await legacyLabel(
          options,
          item.key,
          head.body[0],
          censusLabel(head.body[0], head.size, epochForTag),
        );
        if (label === null) return; // deleted since listed
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

/** `"legacy"` for a blob the module doc calls legacy, else `label`; null when it is gone. */
async function legacyLabel(
  options: CensusOptions,
  key: string,
  firstByte: number | undefined,
  label: string,
): Promise<string | null> {
  if (isLegacyV1Key(key)) return "legacy";
  const loc = parseBlobKey(key);
  if (options.keys.kek === undefined || label === "destroyed" || !mayBeLegacy(loc, firstByte)) {
    return label;
  }
  const full = await options.store.get(key);
  if (full === null) return null;
  const verdict = provenEnvelope(options.keys as KeyProvider, loc!, full.body);
  return verdict === "legacy" ? "legacy" : label;
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
