/**
 * The one error shape of `lib/` (issue 8): a refusal carries a stable snake_case `code`, which
 * `routes/errors.ts` maps to an HTTP status and the CLIs print, and a message for people and
 * logs. Each component keeps its own list of codes and its own base class, a subclass of
 * {@linkcode CodedError}, so that the shape is written once.
 *
 * ```ts
 * export const STORE_ERROR_CODES = ["precondition_failed", "store_unavailable"] as const;
 * export class StoreError extends CodedError<typeof STORE_ERROR_CODES[number]> {}
 * throw new StoreError("store_unavailable", "the bucket does not answer");
 * ```
 *
 * @module
 */

/** An error with a stable `code`; `name` is the concrete class's, for logs. */
export class CodedError<C extends string = string> extends Error {
  constructor(readonly code: C, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
