/**
 * Typed refusals of epoch administration (rotate, destroy). Each carries a stable snake_case
 * `code`; the HTTP status is the routes' business (`routes/errors.ts`).
 *
 * @module
 */

import { CodedError } from "../errors/mod.ts";

/** The codes of this component's refusals (the HTTP layer maps each to a status). */
export const EPOCH_ERROR_CODES = [
  "epoch_in_use",
  "epoch_tag_in_use",
  "epoch_not_found",
  "epoch_active",
  "epoch_already_destroyed",
] as const;

/** Base class: `code` is the snake_case error code the HTTP layer and the CLIs print. */
export class EpochError extends CodedError<typeof EPOCH_ERROR_CODES[number]> {}

/** Why {@linkcode EpochInUse} refused. */
export type EpochInUseReason = "no_census" | "census_before_last_write" | "blobs_remain";

/**
 * Destroying an epoch was refused: no census proves it empty. Carries the counts so the
 * operator sees what is left. HTTP 409 `epoch_in_use`; `drop-old-k3` exit code 1.
 */
export class EpochInUse extends EpochError {
  constructor(
    readonly epoch: number,
    readonly reason: EpochInUseReason,
    /** Blobs the latest global census counted under `epoch` (0 when there is no census). */
    readonly count: number,
    /** The latest global census: when it started and its counts, or `null` when none exists. */
    readonly census: { taken_at: string; global: Record<string, number> } | null,
    /** The last write recorded under `epoch` (ISO 8601), or `null`. */
    readonly lastWriteAt: string | null,
  ) {
    super("epoch_in_use", epochInUseMessage(epoch, reason, count, census, lastWriteAt));
  }
}

function epochInUseMessage(
  epoch: number,
  reason: EpochInUseReason,
  count: number,
  census: { taken_at: string } | null,
  lastWriteAt: string | null,
): string {
  switch (reason) {
    case "no_census":
      return `epoch ${epoch} may still hold blobs: no global census exists; take one first`;
    case "census_before_last_write":
      return `epoch ${epoch} may still hold blobs: the latest census (${census?.taken_at}) ` +
        `started before the last write under it (${lastWriteAt}); take a new census`;
    case "blobs_remain":
      return `epoch ${epoch} still holds ${count} blob(s) (census ${census?.taken_at}); ` +
        `re-encrypt them first`;
  }
}

/** Why {@linkcode EpochTagInUse} refused. */
export type EpochTagInUseReason = "no_census" | "census_before_destroy" | "blobs_remain";

/**
 * Rotating to `epoch` was refused: its one-byte tag (`epoch % 256`) was used by the destroyed
 * epoch `destroyedEpoch`, and no global census since that destruction shows that no blob with
 * the tag is left. Such a blob would be taken for the new epoch's. HTTP 409
 * `epoch_tag_in_use`; `deno task signer rotate` exit code 1.
 */
export class EpochTagInUse extends EpochError {
  constructor(
    readonly epoch: number,
    readonly destroyedEpoch: number,
    readonly reason: EpochTagInUseReason,
    /** Blobs with the tag the latest global census counted (0 when it cannot tell). */
    readonly count: number,
    /** When the latest global census started, or `null`. */
    readonly censusTakenAt: string | null,
  ) {
    const tag = epoch % 256;
    const why = reason === "blobs_remain"
      ? `the latest census (${censusTakenAt}) still counts ${count} blob(s) with tag ${tag}; ` +
        `tear them down or restore their plaintext first`
      : reason === "census_before_destroy"
      ? `the latest census (${censusTakenAt}) predates that destruction; take a new census`
      : "no global census with per-tag counts exists; take one";
    super(
      "epoch_tag_in_use",
      `epoch ${epoch} would reuse tag ${tag} of destroyed epoch ${destroyedEpoch}: ${why}`,
    );
  }
}

/** No epoch has this number. HTTP 404 `epoch_not_found`; `drop-old-k3` exit code 2. */
export class EpochNotFound extends EpochError {
  constructor(readonly epoch: number) {
    super("epoch_not_found", `epoch ${epoch} does not exist`);
  }
}

/**
 * Only a retiring epoch can be destroyed: this one is `active` (HTTP 409 `epoch_active`, rotate
 * first) or already `destroyed` (HTTP 409 `epoch_already_destroyed`).
 */
export class EpochNotRetiring extends EpochError {
  constructor(readonly epoch: number, readonly state: "active" | "destroyed") {
    super(
      state === "active" ? "epoch_active" : "epoch_already_destroyed",
      `epoch ${epoch} is ${state}; only a retiring epoch can be destroyed` +
        (state === "active" ? " (rotate first)" : ""),
    );
  }
}
