/**
 * The credential islands' two-step writes: mint a cap with the session cookie
 * (`POST /v1/cap/cred-*`), then call the worker with that cap as the bearer. The secret goes
 * only into the JSON body of the second request, never into a URL, the DOM or a log.
 *
 * @module
 */

import { postJson } from "./_api.ts";

/** Whose credential and which service. */
export interface CredentialTarget {
  operatorOmni: string;
  actorOmni: string;
  service: string;
}

async function withCap<T>(
  kind: "cred-store" | "cred-teardown",
  target: CredentialTarget,
  path: string,
  body: unknown,
): Promise<T> {
  const { cap } = await postJson<{ cap: string }>(`/v1/cap/${kind}`, {
    operator_omni: target.operatorOmni,
    actor_omni: target.actorOmni,
    service: target.service,
  });
  return await postJson<T>(path, body, { bearer: cap });
}

/** UTF-8, then base64, without `Uint8Array.toBase64` (not in every browser yet). */
function base64Of(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Stores (or replaces) `secret` under the target's service. */
export function storeSecret(
  target: CredentialTarget,
  secret: string,
): Promise<{ epoch: number; size: number }> {
  return withCap("cred-store", target, "/v1/cred/store", { plaintext_b64: base64Of(secret) });
}

/** Deletes the target's credential. */
export function deleteCredential(target: CredentialTarget): Promise<{ deleted: number }> {
  return withCap("cred-teardown", target, "/v1/cred/teardown", {});
}
