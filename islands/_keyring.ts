/**
 * What the keyring island needs from the browser: the injected wallet as a message signer
 * (`personal_sign`, EIP-191 — the same signatures the CLI makes with a key file, so the operator's
 * member key is the same everywhere), and the JSON API over the session cookie as a transport for
 * lib/keyrings. Only the wallet signs; nothing secret is kept in the page after a change.
 *
 * @module
 */

import type { KeyringTransport, SeenRecords } from "../lib/keyrings/mod.ts";
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

/** Where {@linkcode browserSeen} keeps what it saw (this browser profile, this origin). */
export const SEEN_STORAGE_KEY = "agentkeys.keyrings-seen";

type SeenMap = Record<string, { version: number; rotation: number }>;

function readSeen(): SeenMap {
  try {
    const parsed = JSON.parse(localStorage.getItem(SEEN_STORAGE_KEY) ?? "{}");
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    return {}; // unreadable: nothing remembered, the record's own checks still apply
  }
}

/**
 * The highest ring record version and rotation this browser verified, per operator and ring
 * (what the CLI keeps in `keyrings-seen.json`): a service that replays an older record to the
 * console is refused (`record_rollback`) before the wallet signs a successor built on it.
 */
export const browserSeen: SeenRecords = {
  get(operatorOmni, ring) {
    return Promise.resolve(readSeen()[`${operatorOmni}/${ring}`]);
  },
  set(operatorOmni, ring, seen) {
    const all = readSeen();
    const key = `${operatorOmni}/${ring}`;
    const prev = all[key];
    if (!prev || prev.version < seen.version) {
      all[key] = seen;
      localStorage.setItem(SEEN_STORAGE_KEY, JSON.stringify(all));
    }
    return Promise.resolve();
  },
};
