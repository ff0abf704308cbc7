/**
 * The errors of lib/identity. Other components see only the codes (through `mod.ts`) and catch
 * a malformed identifier as the `TypeError` it is; tests import the class from here.
 *
 * @module
 */

/** Every code an error of lib/identity carries. */
export const IDENTITY_ERROR_CODES = ["invalid_identifier"] as const;

/**
 * A malformed identifier; the message says which one and why. A `TypeError`: callers that
 * checked identifiers with their own patterns threw that, and still may catch it as one.
 */
export class InvalidIdentifierError extends TypeError {
  readonly code = "invalid_identifier";
  constructor(message: string) {
    super(message);
    this.name = "InvalidIdentifierError";
  }
}
