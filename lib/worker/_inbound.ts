/**
 * The inbound data class (issue 13): message ids and the paged listing of an actor's inbox. The
 * reads and writes themselves go through {@linkcode VaultWorker}'s one write and read path.
 *
 * @module
 */

import { ENVELOPE_OVERHEAD } from "../crypto/mod.ts";
import { isValidName } from "../identity/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import type { KeyProvider } from "./_codec.ts";
import { WorkerError } from "./_errors.ts";
import { classPrefix, inboundLocation, parseBlobKey } from "./_layout.ts";
import { epochOf, limitOf, mapPooled } from "./_list.ts";

/** One message as the inbox listing shows it (no plaintext). */
export interface InboundItem {
  message_id: string;
  epoch: number | null;
  /** Plaintext bytes (stored − envelope overhead). */
  size: number;
  /** When the blob was last written (fs mtime, S3 `LastModified`). */
  received_at: string;
}

/** A page of an inbox, oldest first; `next_cursor` is null on the last page. */
export interface InboundPage {
  items: InboundItem[];
  next_cursor: string | null;
}

let lastMs = 0;

/**
 * A new message id: 12 hex digits of milliseconds since 1970, `-`, 16 random hex digits. Ids sort
 * by time as strings (the store lists in key order, so the inbox pages oldest first), and within
 * one process they strictly increase (a burst in one millisecond borrows the next millisecond),
 * so an id generated later never sorts before an earlier one.
 *
 * ```ts
 * newMessageId(); // "019abc3f12e0-5f0c9a7d21b4e6a8"
 * ```
 */
export function newMessageId(now: number = Date.now()): string {
  lastMs = Math.max(now, lastMs + 1);
  const random = crypto.getRandomValues(new Uint8Array(8)).toHex();
  return `${lastMs.toString(16).padStart(12, "0")}-${random}`;
}

/**
 * A page of the inbox of `actorHex`, after `cursor` (the last message id of the previous page),
 * from one bounded store listing and a 1-byte range read per message (16 at a time).
 *
 * ```ts
 * const page = await listInbox(store, keys, actorHex, { limit: 50 });
 * ```
 */
export async function listInbox(
  store: BlobStore,
  keys: Pick<KeyProvider, "epochForTag">,
  actorHex: string,
  options: { cursor?: unknown; limit?: unknown } = {},
): Promise<InboundPage> {
  const limit = limitOf(options.limit);
  const cursor = options.cursor;
  if (cursor !== undefined && cursor !== null && !isValidName(cursor)) {
    throw new WorkerError("bad_request", "cursor must be a next_cursor of a previous page");
  }
  const startAfter = typeof cursor === "string" ? inboundLocation(actorHex, cursor).key : undefined;
  const listed: { id: string; key: string; lastModified: Date }[] = [];
  let more = false;
  for await (
    const info of store.list(classPrefix(actorHex, "inbound"), {
      startAfter,
      pageSize: Math.min(limit + 1, 1000),
    })
  ) {
    const loc = parseBlobKey(info.key);
    if (loc?.dataClass !== "inbound") continue; // not an object of the layout
    if (listed.length === limit) {
      more = true;
      break;
    }
    listed.push({ id: loc.objectName, key: info.key, lastModified: info.lastModified });
  }
  const items = await mapPooled(listed, 16, async (m) => {
    const head = await store.getRange(m.key, 0, 0);
    if (head === null) return null; // deleted since listed
    return {
      message_id: m.id,
      epoch: epochOf(head.body[0], head.size, keys),
      size: Math.max(0, head.size - ENVELOPE_OVERHEAD),
      received_at: m.lastModified.toISOString(),
    };
  });
  return {
    items: items.filter((item) => item !== null),
    next_cursor: more && listed.length > 0 ? listed[listed.length - 1].id : null,
  };
}
