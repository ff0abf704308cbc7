/**
 * Streams the keys a run or census visits, page by page from the store's listing: per actor and
 * class (`bots/<actor>/<class>/`), or every key under `bots/`. Nothing is collected.
 *
 * @module
 */

import { DATA_CLASSES, type DataClass } from "../crypto/mod.ts";
import { isOmniHex } from "../identity/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import { actorHexOf, classPrefix } from "../worker/mod.ts";
import type { ActorDirectory } from "./_types.ts";

/** One listed object and what its key says about it. */
export interface ScanItem {
  key: string;
  size: number;
  /** 64 hex when the key's second segment is an actor, else `null`. */
  actorHex: string | null;
  /** When the key's third segment is a data class, else `null`. */
  dataClass: DataClass | null;
}

/**
 * The operator's actors (from `directory`, plus the operator itself), as unique 64-hex ids in
 * the directory's order. Throws `InvalidName` when the directory returns a malformed omni.
 *
 * ```ts
 * await actorHexesOf(directory, operatorOmni); // ["11…", "22…"]
 * ```
 */
export async function actorHexesOf(
  directory: ActorDirectory,
  operatorOmni: string,
): Promise<string[]> {
  const seen = new Set<string>([actorHexOf(operatorOmni)]);
  for (const omni of await directory.actorsOf(operatorOmni)) seen.add(actorHexOf(omni));
  return [...seen];
}

/**
 * Every blob of `actors` in `classes`, actor by actor, class by class.
 *
 * ```ts
 * for await (const item of scanActors(store, ["11…"], ["credentials"])) console.log(item.key);
 * ```
 */
export async function* scanActors(
  store: BlobStore,
  actors: string[],
  classes: readonly DataClass[],
): AsyncGenerator<ScanItem> {
  for (const actorHex of actors) {
    for (const dataClass of classes) {
      for await (const info of store.list(classPrefix(actorHex, dataClass))) {
        yield { key: info.key, size: info.size, actorHex, dataClass };
      }
    }
  }
}

/**
 * Every key under `bots/`. Keys of a known data class outside `classes` are left out; keys that
 * name no data class are yielded with `dataClass: null` so the caller can report them.
 *
 * ```ts
 * for await (const item of scanAll(store, DATA_CLASSES)) console.log(item.key);
 * ```
 */
export async function* scanAll(
  store: BlobStore,
  classes: readonly DataClass[],
): AsyncGenerator<ScanItem> {
  for await (const info of store.list("bots/")) {
    const parts = info.key.split("/");
    const actorHex = isOmniHex(parts[1]) ? parts[1] : null;
    const segment = parts[2] ?? "";
    const known = (DATA_CLASSES as readonly string[]).includes(segment);
    if (known && !classes.includes(segment as DataClass)) continue;
    yield {
      key: info.key,
      size: info.size,
      actorHex,
      dataClass: known ? segment as DataClass : null,
    };
  }
}
