/**
 * What the sign-in island tells an operator for each failure (islands/_wallet.ts), and the
 * EIP-1193 encodings it sends.
 */

import { assertEquals, assertMatch } from "../support/assert.ts";
import {
  chainHex,
  signInFailure,
  UNRECOGNIZED_CHAIN,
  USER_REJECTED,
  utf8Hex,
  walletErrorCode,
} from "../../islands/_wallet.ts";
import { ApiAnswerError } from "../../islands/_api.ts";
import { LoginMessageMismatch } from "../../lib/client/mod.ts";

Deno.test("sign-in messages: rejected, expired, used, rate-limited, mismatched message, other", () => {
  const rejected = Object.assign(new Error("User rejected the request."), { code: USER_REJECTED });
  assertMatch(signInFailure(rejected), /^You declined the request in your wallet/);
  const nested = { code: -32603, data: { originalError: { code: USER_REJECTED } } };
  assertEquals(walletErrorCode(nested), -32603, "the top-level code wins");
  assertEquals(walletErrorCode({ data: { originalError: { code: 4902 } } }), UNRECOGNIZED_CHAIN);
  assertEquals(walletErrorCode("nope"), undefined);

  assertMatch(
    signInFailure(new ApiAnswerError(401, "challenge_expired", "the challenge has expired")),
    /expired before your wallet signed it/,
  );
  assertMatch(
    signInFailure(new ApiAnswerError(401, "challenge_used", "used")),
    /no longer valid/,
  );
  assertMatch(
    signInFailure(new ApiAnswerError(429, "rate_limited", "slow down")),
    /Too many sign-in attempts/,
  );
  assertEquals(
    signInFailure(new ApiAnswerError(403, "cross_origin", "not from another origin")),
    "The service refused the sign-in: not from another origin",
  );
  assertMatch(
    signInFailure(new LoginMessageMismatch("domain", "127.0.0.1:8787", "evil.example")),
    /^Nothing was signed: the sign-in message names the wrong domain \(evil\.example; expected 127\.0\.0\.1:8787\)/,
  );
  assertEquals(
    signInFailure(new Error("boom")),
    "The wallet reported an error: boom",
  );
});

Deno.test("EIP-1193 encodings: personal_sign takes UTF-8 hex, chain ids are 0x-hex", () => {
  assertEquals(utf8Hex("hi é"), "0x686920c3a9");
  assertEquals(chainHex(31337), "0x7a69");
});
