/**
 * The service side of keyrings (§15): ring records (create, read, compare-and-swap update),
 * published member keys, and documents by cap — all sealed in the ordinary K3 envelope under the
 * data class `keyring` through the worker's own read and write paths, so rotation, lazy and eager
 * re-encryption, census, integrity pointers and destroy cover them. The service checks what it
 * can without any group key (signatures, successor rules, membership, a document's rotation);
 * it never holds a group key or a content key.
 *
 * @module
 */

import type { CapClaims, CapOp } from "../cap/mod.ts";
import {
  checkSuccessor,
  documentRotation,
  KeyringError,
  type PublishedMemberKey,
  type RingRecord,
  verifyMemberKey,
  verifyRecord,
} from "../keyrings/mod.ts";
import { type BlobStore, PreconditionFailed, type PutConditions } from "../store/mod.ts";
import { WorkerError } from "./_errors.ts";
import {
  actorHexOf,
  type BlobLocation,
  checkName,
  classPrefix,
  keyringDocLocation,
  keyringRecordLocation,
  memberKeyLocation,
} from "./_layout.ts";

/** What the worker lends this component: its checks and its sealed read and write paths. */
export interface KeyringIO {
  /** Every cap check of the worker, for the data class `keyring`. */
  authorize(token: unknown, op: CapOp): Promise<CapClaims>;
  /** Spends a single-use (store, teardown) cap. */
  consume(claims: CapClaims): Promise<void>;
  /** Opens a blob (lazy re-encryption included); `etag` is that of the bytes now stored. */
  read(loc: BlobLocation): Promise<{ plaintext: Uint8Array; epoch: number; etag?: string }>;
  /** Seals and writes under the active epoch, recorded in the write ledger. */
  seal(
    loc: BlobLocation,
    plaintext: Uint8Array,
    owner: { operatorOmni?: string; actorOmni: string },
    put?: PutConditions,
  ): Promise<{ epoch: number; size: number; etag: string }>;
  /** Maps store failures to the worker's refusals. */
  guard<T>(fn: () => Promise<T>): Promise<T>;
  store: BlobStore;
  /** Largest record or document, in bytes. */
  limit: number;
  now(): number;
}

/** How long a membership check may rely on a record read by this process (ms). */
export const MEMBERSHIP_CACHE_MS = 1000;

/** A document's listing entry: names and sizes, never content. */
export interface KeyringDocItem {
  name: string;
  size: number;
  updated_at: string;
}

const utf8 = new TextEncoder();

/**
 * ```ts
 * const created = await worker.keyrings.create(session.operatorOmni, body.record);
 * const { document } = await worker.keyrings.docGet(cap, "api-key");
 * ```
 */
export class KeyringVault {
  readonly #records = new Map<string, { at: number; record: RingRecord }>();

  constructor(private readonly io: KeyringIO) {}

  /** A new ring: version 1, rotation 0, signed by `operatorOmni`'s wallet; never replaces one. */
  async create(operatorOmni: string, value: unknown): Promise<{ ring: string; version: number }> {
    const record = await verifyRecord(value, { expectOperator: operatorOmni });
    if (record.version !== 1 || record.rotation !== 0) {
      throw new KeyringError("record_invalid", "a new ring starts at version 1, rotation 0");
    }
    const loc = keyringRecordLocation(actorHexOf(operatorOmni), record.ring);
    try {
      await this.io.seal(loc, this.#bytes(record), { operatorOmni, actorOmni: operatorOmni }, {
        ifNoneMatch: "*",
      });
    } catch (err) {
      if (err instanceof PreconditionFailed) {
        throw new KeyringError("keyring_exists", `a ring named ${record.ring} exists already`);
      }
      throw err;
    }
    this.#remember(record);
    return { ring: record.ring, version: record.version };
  }

  /** The current record, for the operator or a current member. */
  async read(operatorOmni: string, ring: string, actorOmni: string): Promise<RingRecord> {
    const { record } = await this.#load(operatorOmni, ring);
    if (actorOmni !== operatorOmni && !isMember(record, actorOmni)) {
      throw new KeyringError("not_a_member", `this actor is not a member of ring ${ring}`);
    }
    return record;
  }

  /**
   * Replaces the record with its successor: compare-and-swap on `version` (the next one must be
   * current + 1) and on the stored bytes, rotation never back, history kept (checkSuccessor).
   */
  async update(
    operatorOmni: string,
    ring: string,
    value: unknown,
  ): Promise<{ ring: string; version: number; rotation: number }> {
    const next = await verifyRecord(value, { expectOperator: operatorOmni });
    if (next.ring !== ring) {
      throw new KeyringError("record_invalid", "the record names another ring");
    }
    const { record: current, etag } = await this.#load(operatorOmni, ring);
    if (next.version !== current.version + 1) {
      throw new KeyringError(
        "keyring_conflict",
        `the ring is at version ${current.version}; an update must carry version ${
          current.version + 1
        }`,
      );
    }
    checkSuccessor(current, next, true);
    if (etag === undefined) {
      // A lazy re-wrap lost its race while we read: no etag to swap against, so no blind write.
      throw new KeyringError("keyring_conflict", "the ring changed meanwhile; read it again");
    }
    const loc = keyringRecordLocation(actorHexOf(operatorOmni), ring);
    try {
      await this.io.seal(loc, this.#bytes(next), { operatorOmni, actorOmni: operatorOmni }, {
        ifMatch: etag,
      });
    } catch (err) {
      if (err instanceof PreconditionFailed) {
        this.#records.delete(this.#cacheKey(operatorOmni, ring));
        throw new KeyringError("keyring_conflict", "the ring changed meanwhile; read it again");
      }
      throw err;
    }
    this.#remember(next);
    return { ring, version: next.version, rotation: next.rotation };
  }

  /** The operator's rings, by name. */
  async list(operatorOmni: string): Promise<string[]> {
    const prefix = classPrefix(actorHexOf(operatorOmni), "keyring");
    return await this.io.guard(async () => {
      const rings: string[] = [];
      for await (const item of this.io.store.list(prefix)) {
        const rest = item.key.slice(prefix.length).split("/");
        if (rest.length === 2 && rest[1] === "record.enc") rings.push(rest[0]);
      }
      return rings.sort();
    });
  }

  /**
   * Publishes `actorOmni`'s member key. `speaksFor(address)` says whether the signing address
   * is that actor's (its operator wallet, or its registered device): the route knows which.
   */
  async publishMemberKey(
    actorOmni: string,
    value: unknown,
    speaksFor: (address: string) => boolean | Promise<boolean>,
  ): Promise<PublishedMemberKey> {
    const key = await verifyMemberKey(value);
    if (key.actor_omni !== actorOmni || !(await speaksFor(key.signer_address))) {
      throw new KeyringError("member_key_invalid", "this key is not signed by this actor's key");
    }
    await this.io.seal(
      memberKeyLocation(actorHexOf(actorOmni)),
      utf8.encode(JSON.stringify(key)),
      { actorOmni },
    );
    return key;
  }

  /** An actor's published member key (the caller re-checks the signature and whose it is). */
  async memberKey(actorOmni: string): Promise<PublishedMemberKey> {
    try {
      const { plaintext } = await this.io.read(memberKeyLocation(actorHexOf(actorOmni)));
      return JSON.parse(new TextDecoder().decode(plaintext));
    } catch (err) {
      if (err instanceof WorkerError && err.code === "not_found") {
        throw new KeyringError("member_key_not_found", "this actor has published no member key");
      }
      throw err;
    }
  }

  /** `POST /v1/keyring/put`: a document of the cap's ring, written under the current rotation. */
  async docPut(
    token: unknown,
    name: unknown,
    document: Uint8Array,
  ): Promise<{ name: string; epoch: number; size: number; rotation: number }> {
    const claims = await this.io.authorize(token, "store");
    const loc = this.#docLoc(claims, name);
    if (document.length > this.io.limit) {
      throw new WorkerError("too_large", `keyring documents are limited to ${this.io.limit} bytes`);
    }
    let rotation: number;
    try {
      rotation = documentRotation(document);
    } catch (err) {
      throw new WorkerError("bad_request", (err as Error).message);
    }
    const record = await this.#membership(claims);
    if (rotation !== record.rotation) {
      throw new KeyringError(
        "rotation_stale",
        `ring ${record.ring} is at rotation ${record.rotation}; this document is under ${rotation}`,
      );
    }
    await this.io.consume(claims);
    const r = await this.io.seal(loc, document, {
      operatorOmni: claims.operator_omni,
      actorOmni: claims.operator_omni,
    });
    return { name: loc.objectName.split("/").at(-1)!, epoch: r.epoch, size: r.size, rotation };
  }

  /** `POST /v1/keyring/get`: a document's bytes (still end-to-end encrypted). */
  async docGet(
    token: unknown,
    name: unknown,
  ): Promise<{ document: Uint8Array; epoch: number; rewrapped: boolean }> {
    const claims = await this.io.authorize(token, "fetch");
    const loc = this.#docLoc(claims, name);
    await this.#membership(claims);
    const r = await this.io.read(loc) as {
      plaintext: Uint8Array;
      epoch: number;
      rewrapped?: boolean;
    };
    return { document: r.plaintext, epoch: r.epoch, rewrapped: r.rewrapped ?? false };
  }

  /** `POST /v1/keyring/list`: the ring's document names and sizes (a fetch cap). */
  async docList(token: unknown): Promise<{ items: KeyringDocItem[] }> {
    const claims = await this.io.authorize(token, "fetch");
    await this.#membership(claims);
    const prefix = keyringDocLocation(actorHexOf(claims.operator_omni), claims.ring!, "x").key
      .slice(0, -"x.enc".length);
    return await this.io.guard(async () => {
      const items: KeyringDocItem[] = [];
      for await (const info of this.io.store.list(prefix)) {
        const name = info.key.slice(prefix.length, -".enc".length);
        items.push({
          name,
          size: Math.max(0, info.size - 29), // the envelope's 29 bytes, as store answers say
          updated_at: info.lastModified.toISOString(),
        });
      }
      return { items };
    });
  }

  /**
   * `POST /v1/keyring/teardown`: one document when `name` is given (any current member);
   * without a name, the whole ring — its documents and its record — for the operator's own cap.
   */
  async docTeardown(token: unknown, name?: unknown): Promise<{ deleted: number }> {
    const claims = await this.io.authorize(token, "teardown");
    const record = await this.#membership(claims);
    if (name !== undefined && name !== null) {
      const loc = this.#docLoc(claims, name);
      await this.io.consume(claims);
      return { deleted: await this.io.guard(() => this.io.store.delete(loc.key)) ? 1 : 0 };
    }
    if (claims.actor_omni !== claims.operator_omni) {
      throw new KeyringError("not_a_member", "only the operator may tear down a whole ring");
    }
    await this.io.consume(claims);
    const operatorHex = actorHexOf(claims.operator_omni);
    const prefix = `${classPrefix(operatorHex, "keyring")}${record.ring}/`;
    this.#records.delete(this.#cacheKey(claims.operator_omni, record.ring));
    return {
      deleted: await this.io.guard(async () => {
        let deleted = 0;
        // Documents first, the record last: a crash in between leaves a ring that still exists.
        const keys: string[] = [];
        for await (const item of this.io.store.list(prefix)) keys.push(item.key);
        const recordKey = keyringRecordLocation(operatorHex, record.ring).key;
        for (const key of [...keys.filter((k) => k !== recordKey), recordKey]) {
          if (await this.io.store.delete(key)) deleted++;
        }
        return deleted;
      }),
    };
  }

  #docLoc(claims: CapClaims, name: unknown): BlobLocation {
    try {
      return keyringDocLocation(
        actorHexOf(claims.operator_omni),
        claims.ring!,
        checkName("document name", name),
      );
    } catch (err) {
      throw new WorkerError("bad_request", (err as Error).message);
    }
  }

  /**
   * The record, when the cap's actor is a current member. A record this process read or wrote
   * less than {@linkcode MEMBERSHIP_CACHE_MS} ago is trusted for a "member" answer only; a
   * "not a member" answer is always re-read, so an added member is never refused by the cache.
   * Removals made through this process apply at once (the write replaces the cached record).
   */
  async #membership(claims: CapClaims): Promise<RingRecord> {
    const key = this.#cacheKey(claims.operator_omni, claims.ring!);
    const cached = this.#records.get(key);
    if (
      cached && this.io.now() - cached.at < MEMBERSHIP_CACHE_MS &&
      isMember(cached.record, claims.actor_omni)
    ) {
      return cached.record;
    }
    const { record } = await this.#load(claims.operator_omni, claims.ring!);
    if (!isMember(record, claims.actor_omni)) {
      throw new KeyringError(
        "not_a_member",
        `this actor is not a member of ring ${claims.ring} (removed members are refused)`,
      );
    }
    return record;
  }

  async #load(operatorOmni: string, ring: string): Promise<{ record: RingRecord; etag?: string }> {
    let loc: BlobLocation;
    try {
      loc = keyringRecordLocation(actorHexOf(operatorOmni), ring);
    } catch (err) {
      throw new WorkerError("bad_request", (err as Error).message);
    }
    let opened: { plaintext: Uint8Array; etag?: string };
    try {
      opened = await this.io.read(loc);
    } catch (err) {
      if (err instanceof WorkerError && err.code === "not_found") {
        throw new KeyringError("keyring_not_found", `no ring named ${ring}`);
      }
      throw err;
    }
    // Checked when it was stored; parsing again guards against a store that was tampered with
    // below the envelope (which the envelope's tag would already refuse).
    const record = await verifyRecord(JSON.parse(new TextDecoder().decode(opened.plaintext)), {
      expectOperator: operatorOmni,
    });
    this.#remember(record);
    return { record, etag: opened.etag };
  }

  #bytes(record: RingRecord): Uint8Array {
    const bytes = utf8.encode(JSON.stringify(record));
    if (bytes.length > this.io.limit) {
      throw new WorkerError("too_large", `a ring record is limited to ${this.io.limit} bytes`);
    }
    return bytes;
  }

  #remember(record: RingRecord): void {
    this.#records.set(this.#cacheKey(record.operator_omni, record.ring), {
      at: this.io.now(),
      record,
    });
    if (this.#records.size > 10_000) {
      this.#records.delete(this.#records.keys().next().value!);
    }
  }

  #cacheKey(operatorOmni: string, ring: string): string {
    return `${operatorOmni}/${ring}`;
  }
}

function isMember(record: RingRecord, actorOmni: string): boolean {
  return record.members.some((m) => m.actor_omni === actorOmni);
}
