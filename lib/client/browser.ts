/**
 * The browser-safe face of lib/client, for the console's islands: the checks a client makes
 * before it signs a login message the server composed. `mod.ts` also carries the job client,
 * which imports server-side components; this entry imports nothing but `viem/siwe`'s parser
 * (tests/console/boundaries.test.ts keeps it so).
 *
 * ```ts
 * import { checkSiweMessage } from "../lib/client/browser.ts";
 * checkSiweMessage(start.message, { url: location.origin, chainId: 31337, address });
 * ```
 *
 * @module
 */

export { checkSiweMessage, type LoginMessageField, LoginMessageMismatch } from "./_login_check.ts";
