/**
 * The credentials and memory worker: verifies a cap, then encrypts into or decrypts out of the
 * blob store. It holds KEK handles for one request only and never talks HTTP — routes call it.
 *
 * @module
 */

import {
  type CapClaims,
  CapExpired,
  type CapKeySet,
  type CapOp,
  type VerifiedTokenCache,
  verifyCap,
} from "../cap/mod.ts";
import { type DataClass, EnvelopeError } from "../crypto/mod.ts";
import { IntegrityBlocked, IntegrityMismatch } from "../integrity/mod.ts";
import {
  type BlobStore,
  PreconditionFailed,
  type PutConditions,
  StoreError,
} from "../store/mod.ts";
import type { SessionRevocations, StateStore, WriteLedger } from "../state/mod.ts";
import { omniFromHex } from "../identity/mod.ts";
import { type KeyProvider, openBlob, sealBlob } from "./_codec.ts";
import { WorkerError } from "./_errors.ts";
import { KeyringVault } from "./_keyring.ts";
import {
  actorHexOf,
  type BlobLocation,
  checkName,
  classPrefix,
  credentialLocation,
  inboundLocation,
  memoryLocation,
} from "./_layout.ts";
import { type InboundPage, listInbox, newMessageId } from "./_inbound.ts";

/**
 * Re-checks a verified cap against live identity state (the chain: revocation, scope) and
 * throws a {@linkcode WorkerError} to refuse. Supplied by the chain component.
 */
export interface CapAuthority {
  recheck(claims: CapClaims): Promise<void>;
}

export interface VaultWorkerDeps {
  store: BlobStore;
  keys: KeyProvider;
  /** Records single-use cap ids (store, teardown). */
  state: StateStore;
  /** The broker's public keys. */
  capKeys: CapKeySet;
  /** Caps whose signature this process already checked or made (see lib/cap). */
  capCache?: VerifiedTokenCache<CapClaims>;
  /** Largest plaintext per data class, in bytes. */
  limits: Record<DataClass, number>;
  /**
   * The re-check of every cap against live identity (revocation, scope). Required, like `ledger`
   * and `sessions`: a worker built without one would silently serve revoked agents.
   */
  authority: CapAuthority;
  now?: () => Date;
  /** Receives non-fatal incidents (a lazy re-wrap that could not be written). No secrets. */
  warn?: (message: string) => void;
  /**
   * Records every successful write per epoch. Without it the destroy guard could pass while
   * blobs written after the last census remain, and their epoch's key would be destroyed.
   */
  ledger: WriteLedger;
  /**
   * Logged-out sessions, whose caps (`sid`) are refused. Share the broker's in one process
   * (`SessionDenylist`), so a logout there is known here at once.
   */
  sessions: SessionRevocations;
}

/** A cap {@linkcode VaultWorker.authorize} checked; only that worker accepts it. */
export interface AuthorizedCap {
  readonly op: CapOp;
  readonly dataClass: DataClass;
  readonly claims: CapClaims;
}

/** A bearer cap as sent, or one already authorized by the same worker. */
export type CapInput = string | AuthorizedCap;

export interface StoreResult {
  key: string;
  epoch: number;
  size: number;
  etag: string;
}

export interface FetchResult {
  plaintext: Uint8Array;
  epoch: number;
  rewrapped: boolean;
  /** The etag of the bytes now stored, when known: a caller's compare-and-swap (keyrings). */
  etag?: string;
}

/**
 * ```ts
 * const worker = new VaultWorker({
 *   store, keys: keystore, state, capKeys, limits,
 *   authority: new ChainCapAuthority(chainClient),
 *   ledger: new KvWriteLedger(kv),
 *   sessions: new SessionDenylist(state),
 * });
 * await worker.credStore(cap, new TextEncoder().encode("sk-live-…"));
 * const { plaintext, rewrapped } = await worker.credFetch(cap2);
 * ```
 */
export class VaultWorker {
  constructor(private readonly deps: VaultWorkerDeps) {
    // Types say so already; this catches untyped callers before the first cap is served.
    const missing = [
      typeof deps.authority?.recheck === "function" ? [] : ["authority"],
      typeof deps.ledger?.recordWrite === "function" ? [] : ["ledger"],
      typeof deps.sessions?.isRevoked === "function" ? [] : ["sessions"],
    ].flat();
    if (missing.length > 0) {
      throw new TypeError(`VaultWorker needs ${missing.join(", ")}: none of them is optional`);
    }
  }

  /** `POST /v1/cred/store`: encrypts under the active epoch and replaces the credential. */
  async credStore(token: CapInput, plaintext: Uint8Array): Promise<StoreResult> {
    const claims = await this.#authorize(token, "store", "credentials");
    const loc = credentialLocation(actorHexOf(claims.actor_omni), claims.service!);
    return this.#write(claims, loc, plaintext);
  }

  /** `POST /v1/cred/fetch`: decrypts; moves a retiring-epoch blob to the active epoch. */
  async credFetch(token: CapInput): Promise<FetchResult> {
    const claims = await this.#authorize(token, "fetch", "credentials");
    return this.#read(credentialLocation(actorHexOf(claims.actor_omni), claims.service!));
  }

  /** `POST /v1/cred/teardown`: deletes the credential; `deleted` counts removed blobs. */
  async credTeardown(token: CapInput): Promise<{ deleted: number }> {
    const claims = await this.#authorize(token, "teardown", "credentials");
    await this.#consume(claims);
    const loc = credentialLocation(actorHexOf(claims.actor_omni), claims.service!);
    return { deleted: await this.#guard(() => this.deps.store.delete(loc.key)) ? 1 : 0 };
  }

  /** `POST /v1/memory/put` */
  async memoryPut(
    token: CapInput,
    namespace: unknown,
    name: unknown,
    plaintext: Uint8Array,
  ): Promise<StoreResult> {
    const claims = await this.#authorize(token, "store", "memory");
    return this.#write(claims, this.#memoryLoc(claims, namespace, name), plaintext);
  }

  /** `POST /v1/memory/get` */
  async memoryGet(token: CapInput, namespace: unknown, name: unknown): Promise<FetchResult> {
    const claims = await this.#authorize(token, "fetch", "memory");
    return this.#read(this.#memoryLoc(claims, namespace, name));
  }

  /**
   * `POST /v1/memory/teardown`: one object when `name` is given, otherwise the whole namespace.
   */
  async memoryTeardown(
    token: CapInput,
    namespace: unknown,
    name?: unknown,
  ): Promise<{ deleted: number }> {
    const claims = await this.#authorize(token, "teardown", "memory");
    if (name !== undefined && name !== null) {
      const loc = this.#memoryLoc(claims, namespace, name);
      await this.#consume(claims);
      return { deleted: await this.#guard(() => this.deps.store.delete(loc.key)) ? 1 : 0 };
    }
    const ns = this.#namespace(claims, namespace);
    await this.#consume(claims);
    const prefix = `${classPrefix(actorHexOf(claims.actor_omni), "memory")}${ns}/`;
    return {
      deleted: await this.#guard(async () => {
        let deleted = 0;
        for await (const item of this.deps.store.list(prefix)) {
          if (await this.deps.store.delete(item.key)) deleted++;
        }
        return deleted;
      }),
    };
  }

  /**
   * `POST /v1/inbound/put`: stores a message in the cap's actor's inbox under `messageId`, or a
   * new time-ordered id when absent (a given id is replaced, like a memory put).
   */
  async inboundPut(
    token: CapInput,
    messageId: unknown,
    plaintext: Uint8Array,
  ): Promise<{ message_id: string; epoch: number; size: number }> {
    const claims = await this.#authorize(token, "store", "inbound");
    const id = messageId === undefined || messageId === null
      ? newMessageId(this.deps.now?.().getTime())
      : this.#badRequest(() => checkName("message_id", messageId));
    const r = await this.#write(
      claims,
      inboundLocation(actorHexOf(claims.actor_omni), id),
      plaintext,
    );
    return { message_id: id, epoch: r.epoch, size: r.size };
  }

  /** `POST /v1/inbound/get`: one message (lazy re-encryption like every read). */
  async inboundGet(token: CapInput, messageId: unknown): Promise<FetchResult> {
    const claims = await this.#authorize(token, "fetch", "inbound");
    const id = this.#badRequest(() => checkName("message_id", messageId));
    return this.#read(inboundLocation(actorHexOf(claims.actor_omni), id));
  }

  /** `POST /v1/inbound/list`: a page of the inbox, oldest first (a fetch cap). */
  async inboundList(
    token: CapInput,
    options: { cursor?: unknown; limit?: unknown },
  ): Promise<InboundPage> {
    const claims = await this.#authorize(token, "fetch", "inbound");
    const actorHex = actorHexOf(claims.actor_omni);
    return await this.#guard(() => listInbox(this.deps.store, this.deps.keys, actorHex, options));
  }

  /** `POST /v1/inbound/teardown`: one message when `messageId` is given, else the whole inbox. */
  async inboundTeardown(token: CapInput, messageId?: unknown): Promise<{ deleted: number }> {
    const claims = await this.#authorize(token, "teardown", "inbound");
    const actorHex = actorHexOf(claims.actor_omni);
    if (messageId !== undefined && messageId !== null) {
      const loc = inboundLocation(
        actorHex,
        this.#badRequest(() => checkName("message_id", messageId)),
      );
      await this.#consume(claims);
      return { deleted: await this.#guard(() => this.deps.store.delete(loc.key)) ? 1 : 0 };
    }
    await this.#consume(claims);
    return {
      deleted: await this.#guard(async () => {
        let deleted = 0;
        for await (const item of this.deps.store.list(classPrefix(actorHex, "inbound"))) {
          if (await this.deps.store.delete(item.key)) deleted++;
        }
        return deleted;
      }),
    };
  }

  /**
   * A write on the service's own authority, for jobs inside the worker trust zone (the legacy
   * migration, issue 13), never for routes: no cap, but the same seal, put and write record as
   * every store. `put` conditions pass through (`ifNoneMatch` for a new copy, `ifMatch` to
   * replace what the job just read); a failed one throws the store's `PreconditionFailed`.
   *
   * ```ts
   * await worker.writeAsService(credentialLocation(actorHex, "openai"), bytes, { operatorOmni, actorOmni }, { ifNoneMatch: true });
   * ```
   */
  writeAsService(
    loc: BlobLocation,
    plaintext: Uint8Array,
    owner: { operatorOmni?: string; actorOmni: string },
    put?: PutConditions,
  ): Promise<StoreResult> {
    const limit = this.deps.limits[loc.dataClass];
    if (plaintext.length > limit) {
      throw new WorkerError("too_large", `${loc.dataClass} plaintext is limited to ${limit} bytes`);
    }
    return this.#seal(loc, plaintext, owner, put);
  }

  /** The read of {@linkcode writeAsService}'s jobs: the worker's one read path, without a cap. */
  readAsService(loc: BlobLocation): Promise<FetchResult> {
    return this.#read(loc);
  }

  /**
   * Whether `blob` is an envelope of `loc` that authenticates under the epoch its first byte
   * names: the only proof that a blob is this project's (a legacy blob can carry the same first
   * byte at the same key). Returns the plaintext, or `null` when it does not authenticate.
   */
  openAsService(loc: BlobLocation, blob: Uint8Array): Uint8Array | null {
    try {
      return openBlob(this.deps.keys, loc, blob).plaintext;
    } catch (err) {
      if (err instanceof EnvelopeError) return null;
      throw err;
    }
  }

  /**
   * Every check of a cap that needs no request body: signature, expiry, op, data class, the
   * chain re-check, read-only. Routes call it before reading a body, so a client without a valid
   * cap cannot make the server buffer or decode one; the result stands in for the token.
   */
  async authorize(token: string, op: CapOp, dataClass: DataClass): Promise<AuthorizedCap> {
    const claims = await this.#authorize(token, op, dataClass);
    const authorized = Object.freeze({ op, dataClass, claims });
    this.#authorized.add(authorized);
    return authorized;
  }

  readonly #authorized = new WeakSet<AuthorizedCap>();

  /**
   * Keyring records, member keys and documents (§15, lib/worker/_keyring.ts), through this
   * worker's cap checks and sealed read and write paths.
   */
  get keyrings(): KeyringVault {
    return this.#keyrings ??= new KeyringVault({
      authorize: (token, op) => this.#authorize(token as CapInput, op, "keyring"),
      consume: (claims) => this.#consume(claims),
      read: (loc) => this.#read(loc),
      seal: (loc, plaintext, owner, put) => this.#seal(loc, plaintext, owner, put),
      guard: (fn) => this.#guard(fn),
      store: this.deps.store,
      limit: this.deps.limits.keyring,
      now: () => this.deps.now?.().getTime() ?? Date.now(),
    });
  }

  #keyrings?: KeyringVault;

  async #authorize(token: CapInput, op: CapOp, dataClass: DataClass): Promise<CapClaims> {
    if (typeof token !== "string") {
      // Only what this worker's authorize() returned, and only for the op it was checked for.
      if (!this.#authorized.has(token) || token.op !== op || token.dataClass !== dataClass) {
        throw new WorkerError("cap_invalid", "this cap was not authorized for this operation");
      }
      return token.claims;
    }
    let claims: CapClaims;
    try {
      claims = await verifyCap(token, this.deps.capKeys, {
        now: this.deps.now?.(),
        cache: this.deps.capCache,
      });
    } catch (err) {
      if (err instanceof CapExpired) throw new WorkerError("cap_expired", err.message);
      throw new WorkerError("cap_invalid", (err as Error).message);
    }
    if (await this.deps.sessions.isRevoked(claims.sid)) {
      throw new WorkerError(
        "session_revoked",
        "the session that minted this cap was logged out; sign in again",
      );
    }
    if (claims.op !== op) {
      throw new WorkerError("wrong_op", `this cap is for ${claims.op}, not ${op}`);
    }
    if (claims.data_class !== dataClass) {
      throw new WorkerError(
        "wrong_data_class",
        `this cap is for ${claims.data_class}, not ${dataClass}`,
      );
    }
    await this.deps.authority.recheck(claims);
    if (op !== "fetch" && claims.read_only) {
      throw new WorkerError("read_only", `the scope of this cap is read-only; ${op} is refused`);
    }
    return claims;
  }

  /** Store and teardown caps are single-use: the first use wins, atomically. */
  async #consume(claims: CapClaims): Promise<void> {
    const first = await this.deps.state.claimOnce("cap", claims.jti, (claims.exp + 60) * 1000);
    if (!first) throw new WorkerError("cap_replayed", "this store/teardown cap was already used");
  }

  #namespace(claims: CapClaims, namespace: unknown): string {
    const ns = this.#badRequest(() => checkName("namespace", namespace));
    if (ns !== claims.namespace) {
      throw new WorkerError(
        "out_of_scope",
        `this cap is for namespace ${claims.namespace}, not ${ns}`,
      );
    }
    return ns;
  }

  #memoryLoc(claims: CapClaims, namespace: unknown, name: unknown): BlobLocation {
    const ns = this.#namespace(claims, namespace);
    const n = this.#badRequest(() => checkName("name", name));
    return memoryLocation(actorHexOf(claims.actor_omni), ns, n);
  }

  async #write(claims: CapClaims, loc: BlobLocation, plaintext: Uint8Array): Promise<StoreResult> {
    const limit = this.deps.limits[loc.dataClass];
    if (plaintext.length > limit) {
      throw new WorkerError("too_large", `${loc.dataClass} plaintext is limited to ${limit} bytes`);
    }
    await this.#consume(claims);
    // A store replaces the credential by intent (last writer wins); only re-wraps need CAS.
    return await this.#seal(loc, plaintext, {
      operatorOmni: claims.operator_omni,
      actorOmni: claims.actor_omni,
    });
  }

  /**
   * Seals under the active epoch, writes (with `put` conditions when given: a failed one throws
   * `PreconditionFailed` for the caller to answer) and records the write in the ledger.
   */
  async #seal(
    loc: BlobLocation,
    plaintext: Uint8Array,
    owner: { operatorOmni?: string; actorOmni: string },
    put?: PutConditions,
  ): Promise<StoreResult> {
    await this.deps.keys.refresh?.(); // a rotation by `deno task signer` applies to this write
    const { blob, epoch } = sealBlob(this.deps.keys, loc, plaintext);
    let etag: string;
    try {
      ({ etag } = await this.deps.store.put(loc.key, blob, put));
    } catch (err) {
      if (err instanceof PreconditionFailed) throw err; // a lost compare-and-swap, not an outage
      ({ etag } = await this.#guard(() => Promise.reject(err)));
    }
    await this.deps.ledger.recordWrite({ epoch, ...owner });
    return { key: loc.key, epoch, size: plaintext.length, etag };
  }

  async #read(loc: BlobLocation): Promise<FetchResult> {
    await this.deps.keys.refresh?.();
    const stored = await this.#guard(() => this.deps.store.get(loc.key));
    // Messages name the data class, never the object key (a layout detail of the store).
    if (!stored) {
      throw new WorkerError("not_found", `no ${loc.dataClass} is stored under this name`);
    }
    let opened: { plaintext: Uint8Array; epoch: number };
    try {
      opened = openBlob(this.deps.keys, loc, stored.body);
    } catch (err) {
      if (err instanceof EnvelopeError) {
        if (err.code === "epoch_destroyed") {
          throw new WorkerError(
            "epoch_destroyed",
            `this ${loc.dataClass} object is under a destroyed epoch and cannot be read`,
          );
        }
        throw new WorkerError(
          "envelope_corrupt",
          `this ${loc.dataClass} object does not decrypt (${err.code})`,
        );
      }
      throw err;
    }
    // Bytes from before pointers get one now that they authenticated (lib/integrity).
    await stored.adopt?.();
    const active = this.deps.keys.activeEpoch;
    if (opened.epoch === active) return { ...opened, rewrapped: false, etag: stored.etag };
    // Lazy re-encryption (§8.2): compare-and-swap on the etag just read, so a newer store that
    // landed in between is never overwritten; losing that race is not an error.
    const { blob } = sealBlob(this.deps.keys, loc, opened.plaintext, active);
    try {
      const { etag } = await this.deps.store.put(loc.key, blob, { ifMatch: stored.etag });
      // The blob is rewritten either way: a ledger failure must not fail the read.
      await this.deps.ledger.recordWrite({ epoch: active, actorOmni: omniFromHex(loc.actorHex) })
        .catch((err) => this.deps.warn?.(`write ledger: ${(err as Error).message}`));
      return { plaintext: opened.plaintext, epoch: active, rewrapped: true, etag };
    } catch (err) {
      if (!(err instanceof PreconditionFailed)) {
        this.deps.warn?.(`lazy re-encryption of ${loc.key} not written: ${(err as Error).message}`);
      }
      return { ...opened, rewrapped: false };
    }
  }

  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof IntegrityMismatch || err instanceof IntegrityBlocked) {
        // Checked before decryption; the detail (key, hashes) is in the audit log.
        throw new WorkerError(err.code, err.message, { cause: err });
      }
      if (err instanceof StoreError) {
        // The detail (endpoint, bucket, key) is for the operator's log, not for a cap holder.
        this.deps.warn?.(`blob store error: ${err.message}`);
        throw new WorkerError("store_unavailable", "the blob store is unavailable; try again", {
          cause: err,
        });
      }
      throw err;
    }
  }

  #badRequest<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw new WorkerError("bad_request", (err as Error).message);
    }
  }
}
