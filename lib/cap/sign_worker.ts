/// <reference lib="deno.worker" />
/**
 * The body of the signing thread started by {@linkcode threadedSigner} (./signer_thread.ts):
 * it holds one P-256 key and answers `{id, data}` with `{id, sig}`.
 *
 * @module
 */

import type { JWK } from "jose";
import { type JwsSigner, jwsSigner } from "./jws.ts";

let signer: JwsSigner | undefined;

self.onmessage = (event: MessageEvent) => {
  const msg = event.data as { jwk?: JWK; id?: number; data?: Uint8Array };
  if (msg.jwk) {
    signer = jwsSigner(msg.jwk, "");
    return;
  }
  try {
    const sig = new Uint8Array(signer!.sign(msg.data!) as Uint8Array);
    self.postMessage({ id: msg.id, sig }, [sig.buffer]);
  } catch (err) {
    self.postMessage({ id: msg.id, error: (err as Error).message });
  }
};
