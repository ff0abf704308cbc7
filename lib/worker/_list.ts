/**
 * Listing an actor's credentials for its operator (`GET /v1/cred/list`): names and metadata,
 * never plaintext, and never a whole blob read. Each page comes from one paged store listing and
 * a 1-byte range read per blob (the epoch tag), as the census does.
 *
 * @module
 */

import { ENVELOPE_OVERHEAD, EnvelopeEpochDestroyed, EnvelopeUnknownEpoch } from "../crypto/mod.ts";
import { confirmRefusal, type IdentityReader, isOmni, isValidName } from "../identity/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import { WorkerError } from "./_errors.ts";
import { actorHexOf, classPrefix, credentialLocation, parseBlobKey } from "./_layout.ts";
import type { KeyProvider } from "./_codec.ts";

type Hex = `0x${string}`;

/** Items per page when the request names no `limit`. */
export const CRED_LIST_DEFAULT_LIMIT = 100;
/** The largest `limit` accepted: one page is at most this many 1-byte reads. */
export const CRED_LIST_MAX_LIMIT = 500;
/** Range reads in flight at once while a page is described. */
const RANGE_CONCURRENCY = 16;

/** One credential as the listing shows it. */
export interface CredentialItem {
  service: string;
  /**
   * The K3 epoch from the blob's first byte; `null` when that tag maps to no live epoch
   * (destroyed, or never known), or the blob is too short to be an envelope: it cannot be read.
   */
  epoch: number | null;
  /** The plaintext size (stored size − the 29-byte envelope overhead), as store answers say. */
  size: number;
  /** When the blob was last written: the store listing's time (fs mtime, S3 `LastModified`). */
  updated_at: string;
}

/** A page of the listing; `next_cursor` is null on the last page. */
export interface CredentialPage {
  items: CredentialItem[];
  next_cursor: string | null;
}

/** What a {@linkcode CredentialLister} works with. */
export interface CredentialListerDeps {
  store: BlobStore;
  identity: Pick<IdentityReader, "agentsOf" | "getDevice" | "sync">;
  keys: Pick<KeyProvider, "epochForTag">;
}

/**
 * ```ts
 * const lister = new CredentialLister({ store, identity: chainClient, keys: keystore });
 * const page = await lister.list(session.operatorOmni, actorOmni, { limit: 50 });
 * const next = await lister.list(session.operatorOmni, actorOmni, { cursor: page.next_cursor! });
 * ```
 */
export class CredentialLister {
  constructor(private readonly deps: CredentialListerDeps) {}

  /**
   * A page of `actorOmni`'s credentials, in service-name order, after `cursor` (the last
   * service of the previous page). `actorOmni` must be `operatorOmni` itself or one of its
   * agents on chain, revoked ones included (their leftovers stay visible until purged).
   * Refuses with {@linkcode WorkerError}: `bad_request` (malformed omni, cursor or limit),
   * `other_operator` (not this operator's actor; whose it is instead is not said). Store
   * failures are thrown as the store's own errors.
   */
  async list(
    operatorOmni: string,
    actorOmni: unknown,
    options: { cursor?: unknown; limit?: unknown } = {},
  ): Promise<CredentialPage> {
    if (!isOmni(actorOmni)) {
      throw new WorkerError("bad_request", "actor_omni must be 0x + 64 lowercase hex");
    }
    const limit = limitOf(options.limit);
    const cursor = options.cursor;
    if (cursor !== undefined && !isValidName(cursor)) {
      throw new WorkerError("bad_request", "cursor must be a next_cursor of a previous page");
    }
    if (actorOmni !== operatorOmni && !(await this.#isAgentOf(operatorOmni, actorOmni))) {
      throw new WorkerError("other_operator", "this actor_omni is neither you nor your agent");
    }
    const actorHex = actorHexOf(actorOmni);
    const prefix = classPrefix(actorHex, "credentials");
    const startAfter = cursor === undefined
      ? undefined
      : credentialLocation(actorHex, cursor as string).key;
    // One more than a page tells whether another page follows; the listing stops there.
    const listed: { service: string; key: string; size: number; lastModified: Date }[] = [];
    let more = false;
    for await (
      const info of this.deps.store.list(prefix, {
        startAfter,
        pageSize: Math.min(limit + 1, 1000),
      })
    ) {
      const loc = parseBlobKey(info.key);
      // Keys outside the layout (another tool's objects) are not credentials.
      if (loc?.dataClass !== "credentials") continue;
      if (listed.length === limit) {
        more = true;
        break;
      }
      listed.push({ service: loc.objectName, ...info });
    }
    const described = await mapPooled(listed, RANGE_CONCURRENCY, async (blob) => {
      const head = await this.deps.store.getRange(blob.key, 0, 0);
      if (head === null) return null; // deleted since listed
      return {
        service: blob.service,
        epoch: epochOf(head.body[0], head.size, this.deps.keys),
        size: Math.max(0, head.size - ENVELOPE_OVERHEAD),
        updated_at: blob.lastModified.toISOString(),
      };
    });
    return {
      items: described.filter((item) => item !== null),
      next_cursor: more && listed.length > 0 ? listed[listed.length - 1].service : null,
    };
  }

  /** Confirmed at the chain's latest block when the answer is no (see confirmRefusal). */
  async #isAgentOf(operatorOmni: string, actorOmni: string): Promise<boolean> {
    try {
      return await confirmRefusal(this.deps.identity, async () => {
        if (!(await this.#isAgentAtHead(operatorOmni, actorOmni))) throw NOT_AN_AGENT;
        return true;
      });
    } catch (err) {
      // Only the answer "no" is false; a chain outage stays an error.
      if (err === NOT_AN_AGENT) return false;
      throw err;
    }
  }

  async #isAgentAtHead(operatorOmni: string, actorOmni: string): Promise<boolean> {
    for (const hash of await this.deps.identity.agentsOf(operatorOmni as Hex)) {
      const device = await this.deps.identity.getDevice(hash);
      if (device?.actorOmni === actorOmni && device.operatorOmni === operatorOmni) return true;
    }
    return false;
  }
}

/** Thrown inside {@linkcode confirmRefusal} for "not an agent of this operator". */
const NOT_AN_AGENT = new Error("not an agent of this operator");

/** The page size a request asks for (default 100, 1–500); `bad_request` otherwise. */
export function limitOf(value: unknown): number {
  if (value === undefined) return CRED_LIST_DEFAULT_LIMIT;
  const n = typeof value === "string" && /^[0-9]{1,4}$/.test(value) ? Number(value) : value;
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > CRED_LIST_MAX_LIMIT) {
    throw new WorkerError(
      "bad_request",
      `limit must be an integer from 1 to ${CRED_LIST_MAX_LIMIT}`,
    );
  }
  return n as number;
}

/** The live epoch a blob's first byte names, or null (destroyed, unknown, too short). */
export function epochOf(
  firstByte: number | undefined,
  size: number,
  keys: Pick<KeyProvider, "epochForTag">,
): number | null {
  if (firstByte === undefined || size < ENVELOPE_OVERHEAD) return null;
  try {
    return keys.epochForTag(firstByte);
  } catch (err) {
    if (err instanceof EnvelopeEpochDestroyed || err instanceof EnvelopeUnknownEpoch) return null;
    throw err;
  }
}

/** `work` over `items` with at most `concurrency` running, results in input order. */
export async function mapPooled<T, R>(
  items: T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
