/**
 * The eager re-encryption engine (ARCHITECTURE §8.3): streams every blob of an operator's actors
 * (or of the whole store), classifies each by its first byte, and moves old-epoch blobs to the
 * new epoch with compare-and-swap on the etag just read, so a newer write is never overwritten.
 *
 * - Memory is flat: the listing is consumed page by page through a bounded queue
 *   ({@linkcode drain}); no list of keys is ever built.
 * - Idempotent: a second run finds every blob under the new epoch and reports it `skipped`.
 * - Fail fast: the first expired credential ({@linkcode isExpiry}) stops the run at once — no new
 *   blobs start, in-flight reads settle, no further writes are issued — with state `aborted`,
 *   so a re-run with fresh credentials continues where this one stopped.
 * - Cancellation through an `AbortSignal` stops the same way with state `cancelled`.
 *
 * @module
 */

import { EnvelopeError } from "../crypto/mod.ts";
import { IntegrityBlocked, IntegrityMismatch } from "../integrity/mod.ts";
import { omniFromHex } from "../identity/mod.ts";
import { PreconditionFailed, StoreError } from "../store/mod.ts";
import { StateBusy } from "../state/mod.ts";
import {
  type BlobLocation,
  isLegacyV1Key,
  mayBeLegacy,
  openBlob,
  parseBlobKey,
  provenEnvelope,
  sealBlob,
} from "../worker/mod.ts";
import {
  classifyHeader,
  finalState,
  headerOutcome,
  legacyReason,
  ratePerSecond,
  Tally,
  validateParams,
  type Verdict,
} from "./_classify.ts";
import { isExpiry, ReencryptError } from "./_errors.ts";
import { drain } from "./_pool.ts";
import { actorHexesOf, scanActors, scanAll, type ScanItem } from "./_scan.ts";
import type {
  BlobEvent,
  EventSink,
  Outcome,
  ReencryptDeps,
  ReencryptEvent,
  ReencryptParams,
  ReencryptResult,
  ValidParams,
} from "./_types.ts";

/** Most reads of one blob when compare-and-swap keeps losing to other writers. */
export const MAX_CAS_ATTEMPTS = 5;
/** Least time between two `progress` events. */
export const PROGRESS_INTERVAL_MS = 250;
/**
 * Blobs larger than this are classified with a 1-byte range read before being read whole, so a
 * re-run over big, already-moved memory objects does not download them. Smaller blobs are read
 * whole at once: a range read costs the same round trip.
 */
export const RANGE_FIRST_BYTES = 64 * 1024;
/** Least time between two batches of write-ledger records. */
export const LEDGER_INTERVAL_MS = 250;

/**
 * Runs one re-encryption over the store and resolves with the summary (also emitted last).
 * Throws {@linkcode InvalidReencryptParams} before touching the store when the parameters are
 * wrong; everything that goes wrong later is reported through events and the summary.
 *
 * ```ts
 * const summary = await runReencrypt(
 *   { operatorOmni, oldEpoch: 1, newEpoch: 2 },
 *   { store, keys: keystore, actors: new KvActorIndex(state.kv), ledger },
 *   (e) => { if (e.event === "blob") console.log(e.data.outcome, e.data.key); },
 * );
 * summary.state; // "succeeded" | "failed" | "aborted" | "cancelled"
 * ```
 */
export function runReencrypt(
  params: ReencryptParams,
  deps: ReencryptDeps,
  sink: EventSink,
): Promise<ReencryptResult> {
  const valid = validateParams(params, deps.keys);
  return new Run(valid, deps, sink, params.signal).execute();
}

/** A per-blob result before it becomes an event; `null` = stopped before writing, no event. */
type Result = { outcome: Outcome; from: number | null; reason?: string } | null;

class Run {
  readonly tally = new Tally();
  listed = 0;
  aborted = false;
  error: string | undefined;
  readonly #now: () => number;
  readonly #started: number;
  #lastProgress: number;
  /** Ledger commits not yet confirmed. */
  readonly #ledgerWrites = new Set<Promise<void>>();
  /** Actors rewritten since the last ledger send. */
  readonly #unrecorded = new Set<string>();
  #lastLedgerSend = -Infinity;
  #ledgerError: unknown;
  #sinkBroken = false;

  constructor(
    readonly p: ValidParams,
    readonly deps: ReencryptDeps,
    readonly sink: EventSink,
    readonly signal?: AbortSignal,
  ) {
    this.#now = deps.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#lastProgress = this.#started;
  }

  get stopping(): boolean {
    return this.aborted || this.error !== undefined || this.signal?.aborted === true;
  }

  async execute(): Promise<ReencryptResult> {
    let source: AsyncIterable<ScanItem> | undefined;
    try {
      source = this.p.operatorOmni === "all"
        ? scanAll(this.deps.store, this.p.classes)
        : scanActors(
          this.deps.store,
          await actorHexesOf(this.deps.actors, this.p.operatorOmni),
          this.p.classes,
        );
    } catch (err) {
      this.#fatal(err, "actor directory failed");
    }
    if (source !== undefined && !this.stopping) {
      const { sourceError, workError } = await drain({
        source: this.#counted(source),
        concurrency: this.p.concurrency,
        capacity: Math.max(256, this.p.concurrency * 8),
        stopped: () => this.stopping,
        work: (item) => this.#process(item),
      });
      if (sourceError !== undefined) this.#fatal(sourceError, "listing failed");
      if (workError !== undefined) this.#fatal(workError, "internal error");
    }
    this.#sendLedger();
    await Promise.allSettled([...this.#ledgerWrites]);
    if (this.#ledgerError !== undefined) {
      this.#log("write ledger failed", this.#ledgerError);
      this.error ??= `write ledger failed: ${publicReason(this.#ledgerError)}`;
    }
    const cancelled = !this.aborted && this.signal?.aborted === true;
    if (cancelled) this.error ??= "cancelled";
    const state = finalState({
      aborted: this.aborted,
      cancelled,
      failed: this.tally.failed,
      error: this.error,
    });
    const elapsed = this.#now() - this.#started;
    await this.#emit({ event: "progress", data: this.#progress(elapsed) });
    const summary = this.tally.summary(elapsed, state, this.error);
    await this.#emit({ event: "summary", data: summary });
    return { ...summary, listed: this.listed };
  }

  async *#counted(source: AsyncIterable<ScanItem>): AsyncGenerator<ScanItem> {
    for await (const item of source) {
      this.listed++;
      yield item;
    }
  }

  /** Expiry aborts; anything else that stops the whole run makes it fail with `error`. */
  #fatal(err: unknown, what: string): void {
    this.#log(what || "run stopped", err);
    if (isExpiry(err)) {
      if (!this.aborted) this.error ??= publicReason(err);
      this.aborted = true;
    } else {
      this.error ??= `${what}: ${publicReason(err)}`;
    }
  }

  /** The full detail goes to the service log only (see `ReencryptDeps.warn`). */
  #log(what: string, err: unknown): void {
    const message = `re-encryption (${this.p.operatorOmni}): ${what}: ${codeOf(err)}: ${
      messageOf(err)
    }`;
    try {
      (this.deps.warn ?? console.warn)(message);
    } catch {
      // A broken log must not break the run.
    }
  }

  async #process(item: ScanItem): Promise<void> {
    const t0 = this.#now();
    const base = {
      key: item.key,
      actor_omni: item.actorHex === null ? null : omniFromHex(item.actorHex),
      data_class: item.dataClass,
    };
    const loc = item.dataClass === null ? undefined : parseBlobKey(item.key);
    let result: Result;
    if (loc === undefined && isLegacyV1Key(item.key)) {
      // Provably the wallet-keyed layout's (issue 13): reported, not failed, never rewritten.
      result = { outcome: "other-epoch", from: null, reason: legacyReason(null) };
    } else if (loc === undefined) {
      result = {
        outcome: "failed",
        from: null,
        reason: "malformed_key: not a key of the object layout; left untouched",
      };
    } else {
      try {
        result = this.p.dryRun ? await this.#classifyOnly(item) : await this.#rewrite(item, loc);
      } catch (err) {
        if (isExpiry(err)) {
          this.#fatal(err, "");
          return;
        }
        this.#log(item.key, err);
        result = { outcome: "failed", from: null, reason: `${publicReason(err)}; left untouched` };
      }
    }
    if (result === null) return;
    this.tally.add(result.outcome);
    const data: BlobEvent = {
      ...base,
      from_epoch: result.from,
      outcome: result.outcome,
      ...(result.reason === undefined ? {} : { reason: result.reason }),
      ms: Math.round(this.#now() - t0),
    };
    await this.#emit({ event: "blob", data });
    const now = this.#now();
    if (now - this.#lastProgress >= PROGRESS_INTERVAL_MS) {
      this.#lastProgress = now;
      await this.#emit({ event: "progress", data: this.#progress(now - this.#started) });
    }
  }

  /** Dry run: the first byte and the size, from one 1-byte range read. */
  async #classifyOnly(item: ScanItem): Promise<Result> {
    const head = await this.deps.store.getRange(item.key, 0, 0);
    if (head === null) return gone();
    const verdict = classifyHeader(head.body[0], head.size, this.p, this.#epochForTag);
    return legacyTag(verdict, item, head.body[0]) ?? decided(verdict, true)!;
  }

  async #rewrite(item: ScanItem, loc: BlobLocation): Promise<Result> {
    const { store, keys } = this.deps;
    if (item.size > RANGE_FIRST_BYTES) {
      const head = await store.getRange(item.key, 0, 0);
      if (head === null) return gone();
      const verdict = classifyHeader(head.body[0], head.size, this.p, this.#epochForTag);
      const early = legacyTag(verdict, item, head.body[0]) ?? decided(verdict);
      // A legacy-version byte decides nothing until the blob authenticates (below).
      if (early !== undefined && !mayBeLegacy(loc, head.body[0])) return early;
    }
    for (let attempt = 1;; attempt++) {
      const current = await store.get(item.key);
      if (current === null) return gone();
      const verdict = classifyHeader(
        current.body[0],
        current.body.length,
        this.p,
        this.#epochForTag,
      );
      const early = legacyTag(verdict, item, current.body[0]) ?? decided(verdict);
      if (
        early !== undefined && (verdict.kind === "new" || verdict.kind === "other") &&
        mayBeLegacy(loc, current.body[0]) && provenEnvelope(keys, loc, current.body) === "legacy"
      ) {
        // Looks like a blob of the new (or a third) epoch by its first byte, but is not one.
        return { outcome: "failed", from: null, reason: legacyReason("auth_failed") };
      }
      if (early !== undefined) return early;
      let sealed: Uint8Array;
      try {
        const { plaintext } = openBlob(keys, loc, current.body);
        try {
          sealed = sealBlob(keys, loc, plaintext, this.p.newEpoch).blob;
        } finally {
          plaintext.fill(0);
        }
      } catch (err) {
        if (err instanceof EnvelopeError) {
          if (err.code !== "epoch_destroyed" && mayBeLegacy(loc, current.body[0])) {
            // Not an envelope of the epoch its first byte names: maybe the wallet-keyed
            // layout's blob at this key (issue 13). Not counted under that epoch.
            return { outcome: "failed", from: null, reason: legacyReason(err.code) };
          }
          return {
            outcome: "failed",
            from: verdict.epoch,
            reason: `${err.code}: ${err.message}; left untouched`,
          };
        }
        throw err;
      }
      // Once the run is stopping (expiry, cancel) no further writes are issued.
      if (this.stopping) return null;
      try {
        await store.put(item.key, sealed, { ifMatch: current.etag });
      } catch (err) {
        if (!(err instanceof PreconditionFailed)) throw err;
        // Someone wrote in between: re-read and classify the newer version.
        if (attempt >= MAX_CAS_ATTEMPTS) {
          return {
            outcome: "failed",
            from: verdict.epoch,
            reason: `contended: changed by other writers ${attempt} times while re-encrypting`,
          };
        }
        continue;
      }
      this.#recordWrite(loc);
      return { outcome: "reencrypted", from: verdict.epoch };
    }
  }

  /**
   * Notes a rewrite for the write ledger. Sent at most every LEDGER_INTERVAL_MS (one record per
   * actor written since the last send), never per blob: a KV commit per blob would compete with
   * the blob store for the disk. Each record is sent after its writes completed, so its time is
   * never earlier than theirs; the run sends the rest and awaits every commit before it ends.
   */
  #recordWrite(loc: BlobLocation): void {
    if (!this.deps.ledger) return;
    this.#unrecorded.add(loc.actorHex);
    if (this.#now() - this.#lastLedgerSend >= LEDGER_INTERVAL_MS) this.#sendLedger();
  }

  #sendLedger(): void {
    const ledger = this.deps.ledger;
    if (!ledger || this.#unrecorded.size === 0) return;
    this.#lastLedgerSend = this.#now();
    const actors = [...this.#unrecorded];
    this.#unrecorded.clear();
    for (const actorHex of actors) {
      const pending = ledger.recordWrite({
        epoch: this.p.newEpoch,
        operatorOmni: this.p.operatorOmni === "all" ? undefined : this.p.operatorOmni,
        actorOmni: omniFromHex(actorHex),
      });
      // A coalescing ledger hands many callers the same promise: track each once.
      if (this.#ledgerWrites.has(pending)) continue;
      this.#ledgerWrites.add(pending);
      pending.then(
        () => this.#ledgerWrites.delete(pending),
        (err) => {
          this.#ledgerWrites.delete(pending);
          this.#ledgerError ??= err;
        },
      );
    }
  }

  #epochForTag = (tag: number): number => this.deps.keys.epochForTag(tag);

  #progress(elapsedMs: number) {
    const done = this.tally.done;
    return { listed: this.listed, done, rate_per_s: ratePerSecond(done, elapsedMs) };
  }

  async #emit(event: ReencryptEvent): Promise<void> {
    if (this.#sinkBroken) return;
    try {
      await this.sink(event);
    } catch (err) {
      // Without a working sink nobody can see outcomes: stop, and say why in the result.
      this.#sinkBroken = true;
      this.#log("event sink failed", err);
      this.error ??= `event sink failed: ${publicReason(err)}`;
    }
  }
}

/**
 * A credentials blob whose first byte (1 or 2, a legacy version) names no epoch at all: reported
 * as legacy-or-damaged instead of an unknown tag (issue 13).
 */
function legacyTag(verdict: Verdict, item: ScanItem, firstByte: number | undefined) {
  if (verdict.kind !== "invalid" || !verdict.reason.startsWith("unknown_epoch")) return undefined;
  if (!mayBeLegacy(parseBlobKey(item.key), firstByte)) return undefined;
  return { outcome: "failed" as const, from: null, reason: legacyReason("unknown_epoch") };
}

function gone(): Result {
  return { outcome: "skipped", from: null, reason: "gone: deleted since it was listed" };
}

/** The result a header verdict decides alone; `undefined` when the blob must be rewritten. */
function decided(verdict: Verdict, dryRun = false): Result | undefined {
  const outcome = headerOutcome(verdict, dryRun);
  if (outcome === undefined) return undefined;
  const reason = "reason" in verdict ? verdict.reason : undefined;
  return { outcome, from: verdict.epoch, ...(reason === undefined ? {} : { reason }) };
}

/**
 * What an event or summary may say about `err`. Job events reach the operator (and the job's
 * record outlives the run), so a store's or chain's own message — an absolute path of the fs
 * store, an S3 or RPC endpoint, an object key — is replaced by its code; envelope errors and this
 * component's own errors have fixed, safe messages.
 *
 * ```ts
 * publicReason(new StoreUnavailable("EIO reading /data/blobs/bots/…")); // "store_unavailable: …"
 * ```
 */
export function publicReason(err: unknown): string {
  if (
    err instanceof EnvelopeError || err instanceof ReencryptError ||
    err instanceof IntegrityMismatch || err instanceof IntegrityBlocked
  ) {
    return `${err.code}: ${err.message}`;
  }
  if (isExpiry(err)) {
    return `${codeOf(err)}: the credentials this run depends on expired; re-run with fresh ones`;
  }
  if (err instanceof StoreError) {
    return `${err.code}: the blob store failed (details in the service log)`;
  }
  if (err instanceof StateBusy) {
    // Another process on the data directory kept the state store locked: transient, nothing lost.
    return `${err.code}: another process kept the state store busy, re-run the job`;
  }
  return "internal_error: details in the service log";
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : (err as Error)?.name ?? "error";
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
