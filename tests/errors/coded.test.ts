/** The shared error shape: code kept, the concrete class's name, the cause passed on. */

import { assertEquals } from "../support/assert.ts";
import { CodedError } from "../../lib/errors/mod.ts";
import { PreconditionFailed, StoreError } from "../../lib/store/mod.ts";

Deno.test("CodedError: code, name of the concrete class, cause; components' errors are CodedErrors", () => {
  class ThingError extends CodedError<"thing_broke"> {}
  const cause = new Error("below");
  const e = new ThingError("thing_broke", "the thing broke", { cause });
  assertEquals([e.code, e.name, e.message, e.cause], [
    "thing_broke",
    "ThingError",
    "the thing broke",
    cause,
  ]);
  const lost = new PreconditionFailed("k");
  assertEquals([lost instanceof StoreError, lost instanceof CodedError], [true, true]);
  assertEquals([lost.code, lost.name], ["precondition_failed", "PreconditionFailed"]);
});
