/// <reference lib="deno.worker" />
/**
 * The body of the signing thread started by {@linkcode threadedSigner} (./signer_thread.ts):
 * it holds one P-256 key and answers `{id, data}` with `{id, sig}`.
 *
 * @module
 */

import { p256 } from "@noble/curves/nist.js";

let key: Uint8Array | undefined;

self.onmessage = (event: MessageEvent) => {
  const msg = event.data as { d?: Uint8Array; id?: number; data?: Uint8Array };
  if (msg.d) {
    key = msg.d;
    return;
  }
  try {
    const sig = p256.sign(msg.data!, key!, { prehash: true, format: "compact" });
    self.postMessage({ id: msg.id, sig }, [sig.buffer]);
  } catch (err) {
    self.postMessage({ id: msg.id, error: (err as Error).message });
  }
};
