/**
 * The assertions the tests use, on `node:assert/strict` (the Deno standard library is on JSR,
 * which these machines cannot reach).
 *
 * @module
 */

import assertNode from "node:assert/strict";

export function assert(value: unknown, message?: string): asserts value {
  assertNode.ok(value, message);
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  assertNode.deepStrictEqual(actual, expected, message);
}

export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  assertNode.notDeepStrictEqual(actual, expected, message);
}

export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  assertNode.match(actual, pattern, message);
}

type ErrorClass = abstract new (...args: never[]) => Error;

function check(err: unknown, type?: ErrorClass, includes?: string): Error {
  if (type && !(err instanceof type)) {
    throw new assertNode.AssertionError({
      message: `expected ${type.name}, got ${
        err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      }`,
    });
  }
  if (includes && !(err as Error).message.includes(includes)) {
    throw new assertNode.AssertionError({
      message: `expected the message to include ${JSON.stringify(includes)}: ${
        (err as Error).message
      }`,
    });
  }
  return err as Error;
}

/** Asserts `fn` throws (an instance of `type`, whose message includes `includes`). */
export function assertThrows(fn: () => unknown, type?: ErrorClass, includes?: string): Error {
  try {
    fn();
  } catch (err) {
    return check(err, type, includes);
  }
  throw new assertNode.AssertionError({ message: "expected the function to throw" });
}

/** Asserts `fn` rejects (an instance of `type`, whose message includes `includes`). */
export async function assertRejects(
  fn: () => Promise<unknown>,
  type?: ErrorClass,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return check(err, type, includes);
  }
  throw new assertNode.AssertionError({ message: "expected the promise to reject" });
}
