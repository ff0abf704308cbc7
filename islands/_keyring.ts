/**
 * What the keyring island needs from the browser: the injected wallet as a message signer
 * (`personal_sign`, EIP-191 — the same signatures the CLI makes with a key file, so the operator's
 * member key is the same everywhere), and the JSON API over the session cookie as a transport for
 * lib/keyrings. Only the wallet signs; nothing secret is kept in the page after a change.
 *
 * @module
 */

import type { KeyringTransport } from "../lib/keyrings/mod.ts";
import { ApiAnswerError } from "./_api.ts";
import { injectedWallet, utf8Hex } from "./_wallet.ts";

/** The injected wallet as lib/keyrings' `MessageSigner`, for the signed-in operator only. */
export async function walletSigner(operatorAddress: string) {
  const eth = injectedWallet();
  if (!eth) {
    throw new Error("No wallet found in this browser: membership changes are signed there.");
  }
  const [account] = await eth.request({ method: "eth_requestAccounts" }) as string[];
  if (account?.toLowerCase() !== operatorAddress.toLowerCase()) {
    throw new Error(
      `The wallet's account ${account ?? "(none)"} is not the one you signed in with ` +
        `(${operatorAddress}); switch accounts in the wallet.`,
    );
  }
  return {
    address: operatorAddress,
    signMessage: async ({ message }: { message: string }) =>
      await eth.request({
        method: "personal_sign",
        params: [utf8Hex(message), operatorAddress],
      }) as `0x${string}`,
  };
}

/** The service's JSON API with the session cookie (same origin). */
export const cookieTransport: KeyringTransport = {
  async call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
    const res = await fetch(path, {
      method,
      ...(token === undefined ? {} : { credentials: "omit" as const }),
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) {
      throw new ApiAnswerError(
        res.status,
        typeof answer.error === "string" ? answer.error : "http_error",
        typeof answer.message === "string" ? answer.message : `the service answered ${res.status}`,
      );
    }
    return answer as T;
  },
};
