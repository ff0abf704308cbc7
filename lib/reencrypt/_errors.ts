/** Typed errors of the re-encryption component; `code` is the wire code of API.md. @module */

import { StoreCredentialsExpired } from "../store/mod.ts";

/** Base class: `code` is the snake_case error code the HTTP layer and the CLIs print. */
export class ReencryptError extends Error {
  constructor(readonly code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The run's parameters are wrong (equal epochs, new epoch not active, old epoch not retiring,
 * unknown epochs, bad omni, concurrency or classes). HTTP 400; CLI exit code 2.
 */
export class InvalidReencryptParams extends ReencryptError {
  constructor(message: string) {
    super("invalid_params", message);
  }
}

/** Why {@linkcode EpochInUse} refused. */
export type EpochInUseReason = "no_census" | "census_before_last_write" | "blobs_remain";

/**
 * Destroying an epoch was refused: no census proves it empty. Carries the counts so the
 * operator sees what is left. HTTP 409 `epoch_in_use`; `drop-old-k3` exit code 1.
 */
export class EpochInUse extends ReencryptError {
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
export class EpochTagInUse extends ReencryptError {
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

/** Another job runs for this operator. HTTP 409 `job_running`; CLI exit code 1. */
export class JobRunning extends ReencryptError {
  constructor(readonly jobId: string, readonly operator: string) {
    super("job_running", `job ${jobId} is already running for ${operator}`);
  }
}

/** No job has this id. HTTP 404. */
export class JobNotFound extends ReencryptError {
  constructor(readonly jobId: string) {
    super("not_found", `no re-encryption job ${jobId}`);
  }
}

/**
 * An operator session expired while a run needed it. The session layer may throw this class or
 * any error whose `code` is `"session_expired"`: both stop a run at once, like an expired store
 * credential (CLI exit code 75).
 */
export class SessionExpired extends ReencryptError {
  constructor(message = "the session expired; log in again and re-run to continue") {
    super("session_expired", message);
  }
}

/**
 * Whether `err` means "the credentials this run depends on expired": the run must stop at once
 * (no further writes) so that a re-run with fresh credentials continues.
 *
 * ```ts
 * isExpiry(new StoreCredentialsExpired("ExpiredToken")); // true
 * isExpiry(Object.assign(new Error("x"), { code: "session_expired" })); // true
 * ```
 */
export function isExpiry(err: unknown): boolean {
  if (err instanceof StoreCredentialsExpired || err instanceof SessionExpired) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return code === "session_expired" || code === "credentials_expired";
}

/** No epoch has this number. HTTP 404 `epoch_not_found`; `drop-old-k3` exit code 2. */
export class EpochNotFound extends ReencryptError {
  constructor(readonly epoch: number) {
    super("epoch_not_found", `epoch ${epoch} does not exist`);
  }
}

/**
 * Only a retiring epoch can be destroyed: this one is `active` (HTTP 409 `epoch_active`, rotate
 * first) or already `destroyed` (HTTP 409 `epoch_already_destroyed`).
 */
export class EpochNotRetiring extends ReencryptError {
  constructor(readonly epoch: number, readonly state: "active" | "destroyed") {
    super(
      state === "active" ? "epoch_active" : "epoch_already_destroyed",
      `epoch ${epoch} is ${state}; only a retiring epoch can be destroyed` +
        (state === "active" ? " (rotate first)" : ""),
    );
  }
}
