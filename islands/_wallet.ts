/**
 * The injected wallet (EIP-1193 `window.ethereum`) and what its refusals mean to an operator.
 * Pure functions beside the provider lookup, so `tests/console/wallet_messages.test.ts` checks
 * every message without a browser.
 *
 * @module
 */

import { LoginMessageMismatch } from "../lib/client/mod.ts";
import { ApiAnswerError } from "./_api.ts";

/** The part of EIP-1193 the console uses. */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

/** The page's injected wallet, if any. */
export function injectedWallet(): Eip1193Provider | undefined {
  const eth = (globalThis as { ethereum?: Eip1193Provider }).ethereum;
  return typeof eth?.request === "function" ? eth : undefined;
}

/** EIP-1193 `4001`: the user rejected the request. */
export const USER_REJECTED = 4001;
/** EIP-3085/3326 `4902`: the wallet does not know the chain (add it first). */
export const UNRECOGNIZED_CHAIN = 4902;

/** The EIP-1193 error code of a wallet's refusal (some wallets nest it in `data.originalError`). */
export function walletErrorCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; data?: { originalError?: { code?: unknown } } } | null;
  const code = e?.code ?? e?.data?.originalError?.code;
  return typeof code === "number" ? code : undefined;
}

/** `0x`-hex of the UTF-8 bytes of `text`: how `personal_sign` takes a message. */
export function utf8Hex(text: string): string {
  let hex = "0x";
  for (const byte of new TextEncoder().encode(text)) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** `0x`-hex of a chain id, as `wallet_switchEthereumChain` takes it. */
export function chainHex(chainId: number): string {
  return `0x${chainId.toString(16)}`;
}

/** What went wrong during a sign-in, in words an operator can act on. */
export function signInFailure(err: unknown): string {
  if (walletErrorCode(err) === USER_REJECTED) {
    return "You declined the request in your wallet, so nothing was signed. " +
      "Connect again when you are ready.";
  }
  if (err instanceof LoginMessageMismatch) {
    return `Nothing was signed: the sign-in message names the wrong ${
      err.field.replace("_", " ")
    } (${err.actual || "none"}; expected ${err.expected}). ` +
      "Open the console at the service's own address and try again.";
  }
  if (err instanceof ApiAnswerError) {
    switch (err.code) {
      case "challenge_expired":
        return "The sign-in request expired before your wallet signed it. Connect again for a new one.";
      case "challenge_unknown":
      case "challenge_used":
        return "This sign-in request is no longer valid (already used, or replaced by a newer one). " +
          "Connect again.";
      case "rate_limited":
        return "Too many sign-in attempts from this address; wait a minute and try again.";
      default:
        return `The service refused the sign-in: ${err.message}`;
    }
  }
  const message = (err as { message?: unknown } | null)?.message;
  return `The wallet reported an error: ${typeof message === "string" ? message : String(err)}`;
}
