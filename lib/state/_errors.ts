/** Typed errors of the operational state on Deno KV. @module */

/** Every code an error of lib/state carries. */
export const STATE_ERROR_CODES = ["state_contention", "state_busy"] as const;

/**
 * A KV transaction kept losing to concurrent writers (or was refused) and gave up: nothing was
 * written. The caller may retry; it never means the data is wrong.
 *
 * ```ts
 * if (!result.ok) throw new StateContention("write ledger: KV commit refused");
 * ```
 */
export class StateContention extends Error {
  readonly code = "state_contention";
  constructor(message: string) {
    super(message);
    this.name = "StateContention";
  }
}

/**
 * The KV file stayed locked by another process's writes through every attempt (SQLite busy, see
 * `_busy.ts`): nothing was written. Transient — the caller may try again shortly.
 *
 * ```ts
 * throw new StateBusy("the state store stayed busy with another process's writes (set)");
 * ```
 */
export class StateBusy extends Error {
  readonly code = "state_busy";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StateBusy";
  }
}
