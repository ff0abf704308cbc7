/**
 * The pure logic of a re-encryption run, apart from any I/O: parameter validation, classifying a
 * blob by its first byte, outcome tallies and the final state. Unit-testable without a store.
 *
 * @module
 */

import {
  DATA_CLASSES,
  type DataClass,
  ENVELOPE_OVERHEAD,
  EnvelopeEpochDestroyed,
  EnvelopeUnknownEpoch,
} from "../crypto/mod.ts";
import { isOmni } from "../identity/mod.ts";
import { InvalidReencryptParams } from "./_errors.ts";
import type {
  EpochKeys,
  Outcome,
  ReencryptParams,
  RunState,
  SummaryEvent,
  ValidParams,
} from "./_types.ts";

/** Default blobs in flight. */
export const DEFAULT_CONCURRENCY = 16;
/** Most blobs in flight a run accepts. */
export const MAX_CONCURRENCY = 256;

/**
 * Checks a run's parameters against the epoch table and fills in defaults. Throws
 * {@linkcode InvalidReencryptParams} with a sentence saying what is wrong.
 *
 * ```ts
 * validateParams({ operatorOmni, oldEpoch: 1, newEpoch: 2 }, keystore);
 * // → { operatorOmni, oldEpoch: 1, newEpoch: 2, dryRun: false, concurrency: 16, classes: [...] }
 * ```
 */
export function validateParams(
  params: ReencryptParams,
  keys: Pick<EpochKeys, "stateOf" | "activeEpoch">,
): ValidParams {
  const bad = (message: string) => new InvalidReencryptParams(message);
  const { operatorOmni, oldEpoch, newEpoch } = params;
  if (operatorOmni !== "all" && !isOmni(operatorOmni)) {
    throw bad(`operator omni must be 0x + 64 lowercase hex or "all", got ${show(operatorOmni)}`);
  }
  for (const [name, value] of [["old epoch", oldEpoch], ["new epoch", newEpoch]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw bad(`${name} must be a whole number >= 1, got ${show(value)}`);
    }
  }
  if (oldEpoch === newEpoch) throw bad(`old and new epoch are both ${oldEpoch}`);
  const newState = keys.stateOf(newEpoch);
  if (newState === undefined) throw bad(`epoch ${newEpoch} does not exist`);
  if (newState !== "active") {
    throw bad(
      `new epoch ${newEpoch} is ${newState}, not active (the active epoch is ${keys.activeEpoch})`,
    );
  }
  const oldState = keys.stateOf(oldEpoch);
  if (oldState === undefined) throw bad(`epoch ${oldEpoch} does not exist`);
  if (oldState !== "retiring") {
    throw bad(`old epoch ${oldEpoch} is ${oldState}, not retiring`);
  }
  const concurrency = params.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    throw bad(`concurrency must be between 1 and ${MAX_CONCURRENCY}, got ${show(concurrency)}`);
  }
  const classes = params.classes ?? [...DATA_CLASSES];
  if (!Array.isArray(classes) || classes.length === 0) {
    throw bad("classes must name at least one data class");
  }
  for (const c of classes) {
    if (!(DATA_CLASSES as readonly string[]).includes(c)) {
      throw bad(`unknown data class ${show(c)} (known: ${DATA_CLASSES.join(", ")})`);
    }
  }
  return {
    operatorOmni,
    oldEpoch,
    newEpoch,
    dryRun: params.dryRun ?? false,
    concurrency,
    // Keep the canonical order and drop repeats: listing a class twice would double-count it.
    classes: DATA_CLASSES.filter((c) => classes.includes(c)) as DataClass[],
  };
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** What a blob's header says about it relative to a run's two epochs. */
export type Verdict =
  /** Under the old epoch: to be re-encrypted. */
  | { kind: "old"; epoch: number }
  /** Already under the new epoch. */
  | { kind: "new"; epoch: number }
  /** Under a third epoch (live or destroyed): left alone and reported. */
  | { kind: "other"; epoch: number; reason?: string }
  /** Not a readable envelope (too short, a tag no epoch ever had). */
  | { kind: "invalid"; epoch: null; reason: string };

/**
 * Classifies a blob from its first byte and full size — all a dry run reads.
 *
 * ```ts
 * classifyHeader(2, 1053, { oldEpoch: 2, newEpoch: 3 }, (t) => keystore.epochForTag(t));
 * // → { kind: "old", epoch: 2 }
 * ```
 */
export function classifyHeader(
  firstByte: number | undefined,
  size: number,
  epochs: { oldEpoch: number; newEpoch: number },
  epochForTag: (tag: number) => number,
): Verdict {
  if (firstByte === undefined || size < ENVELOPE_OVERHEAD) {
    return {
      kind: "invalid",
      epoch: null,
      reason: `too_short: ${size} bytes, an envelope has at least ${ENVELOPE_OVERHEAD}`,
    };
  }
  let epoch: number;
  try {
    epoch = epochForTag(firstByte);
  } catch (err) {
    if (err instanceof EnvelopeEpochDestroyed) {
      return { kind: "other", epoch: err.epoch, reason: `epoch_destroyed: epoch ${err.epoch}` };
    }
    if (err instanceof EnvelopeUnknownEpoch) {
      return { kind: "invalid", epoch: null, reason: `unknown_epoch: no epoch has tag ${err.tag}` };
    }
    throw err;
  }
  if (epoch === epochs.oldEpoch) return { kind: "old", epoch };
  if (epoch === epochs.newEpoch) return { kind: "new", epoch };
  return { kind: "other", epoch };
}

/**
 * The reason reported for a blob of the reference implementation's wallet-keyed layout (issue 13,
 * lib/worker/_legacy.ts): a v1 key (`code` null, provably legacy) or a credentials blob whose first
 * byte is 1 or 2 that is not an envelope of the epoch that byte names (`code` the envelope error:
 * legacy, or damaged — both unreadable here). Such blobs are never rewritten, and their events
 * carry `from_epoch: null`: they are not blobs of epoch 1 or 2.
 *
 * ```ts
 * legacyReason(null); // "legacy: a v1 key of the wallet-keyed layout; …"
 * ```
 */
export function legacyReason(code: string | null): string {
  const move = "deno task migrate-legacy moves legacy blobs; left untouched";
  return code === null
    ? `legacy: a v1 key of the wallet-keyed layout; ${move}`
    : `legacy_or_damaged: ${code}, not an envelope of the epoch its first byte names (a blob ` +
      `of the wallet-keyed layout, or a damaged one); ${move}`;
}

/**
 * The outcome a header verdict decides on its own, or `undefined` when the blob must be
 * rewritten (an old-epoch blob outside a dry run).
 *
 * ```ts
 * headerOutcome({ kind: "new", epoch: 3 }, false); // "skipped"
 * ```
 */
export function headerOutcome(verdict: Verdict, dryRun: boolean): Outcome | undefined {
  switch (verdict.kind) {
    case "old":
      return dryRun ? "would-reencrypt" : undefined;
    case "new":
      return "skipped";
    case "other":
      return "other-epoch";
    case "invalid":
      return "failed";
  }
}

/**
 * The epoch a blob is under after the run, for `<from> -> <to>` in the CLI's lines: the new
 * epoch for blobs that were (or would be) moved or already were there, else unchanged.
 *
 * ```ts
 * epochAfter("reencrypted", 2, 3); // 3
 * epochAfter("other-epoch", 1, 3); // 1
 * ```
 */
export function epochAfter(outcome: Outcome, from: number | null, newEpoch: number): number | null {
  return outcome === "reencrypted" || outcome === "would-reencrypt" || outcome === "skipped"
    ? newEpoch
    : from;
}

/**
 * How a run ended: an expiry abort outranks a cancel, which outranks failures.
 *
 * ```ts
 * finalState({ aborted: false, cancelled: false, failed: 2, error: undefined }); // "failed"
 * ```
 */
export function finalState(
  run: { aborted: boolean; cancelled: boolean; failed: number; error?: string },
): RunState {
  if (run.aborted) return "aborted";
  if (run.cancelled) return "cancelled";
  if (run.failed > 0 || run.error !== undefined) return "failed";
  return "succeeded";
}

/**
 * Outcome counters of one run.
 *
 * ```ts
 * const tally = new Tally();
 * tally.add("skipped");
 * tally.summary(1200, "succeeded").skipped; // 1
 * ```
 */
export class Tally {
  reencrypted = 0;
  would_reencrypt = 0;
  skipped = 0;
  other_epoch = 0;
  failed = 0;

  add(outcome: Outcome): void {
    switch (outcome) {
      case "reencrypted":
        this.reencrypted++;
        break;
      case "would-reencrypt":
        this.would_reencrypt++;
        break;
      case "skipped":
        this.skipped++;
        break;
      case "other-epoch":
        this.other_epoch++;
        break;
      case "failed":
        this.failed++;
        break;
    }
  }

  /** Blobs with an outcome so far. */
  get done(): number {
    return this.reencrypted + this.would_reencrypt + this.skipped + this.other_epoch +
      this.failed;
  }

  summary(durationMs: number, state: RunState, error?: string): SummaryEvent {
    return {
      reencrypted: this.reencrypted,
      would_reencrypt: this.would_reencrypt,
      skipped: this.skipped,
      other_epoch: this.other_epoch,
      failed: this.failed,
      duration_ms: Math.round(durationMs),
      state,
      ...(error === undefined ? {} : { error }),
    };
  }
}

/**
 * Blobs per second over `elapsedMs`, rounded; 0 before any time passed.
 *
 * ```ts
 * ratePerSecond(500, 250); // 2000
 * ```
 */
export function ratePerSecond(done: number, elapsedMs: number): number {
  return elapsedMs <= 0 ? 0 : Math.round((done * 1000) / elapsedMs);
}
