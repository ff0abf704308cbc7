/**
 * ES256 signing on threads of its own (round robin over `threads` workers). A service process spends about a third of a
 * millisecond of CPU per signature; on the main thread that time is taken from HTTP handling,
 * on a worker thread it runs beside it on the second core (bench/cap.ts measures the effect).
 *
 * @module
 */

import type { JWK } from "jose";
import { type JwsSigner, jwsSigner } from "./jws.ts";

/** A {@linkcode JwsSigner} backed by a worker thread; `close()` stops the thread. */
export interface ThreadedSigner extends JwsSigner {
  close(): void;
}

/**
 * ```ts
 * const signer = threadedSigner(privateJwk, kid);
 * const sig = await signer.sign(bytes);
 * signer.close();
 * ```
 */
export function threadedSigner(jwk: JWK, kid: string, threads = 1): ThreadedSigner {
  const { alg } = jwsSigner(jwk, kid); // refuses what the thread could not sign
  const workers = Array.from(
    { length: threads },
    () => new Worker(new URL("./sign_worker.ts", import.meta.url), { type: "module" }),
  );
  const waiting = new Map<
    number,
    { resolve: (s: Uint8Array) => void; reject: (e: Error) => void }
  >();
  let next = 0;
  let closed = false;
  const onmessage = (event: MessageEvent) => {
    const { id, sig, error } = event.data as { id: number; sig?: Uint8Array; error?: string };
    const w = waiting.get(id);
    waiting.delete(id);
    if (sig) w?.resolve(sig);
    else w?.reject(new Error(`signing failed: ${error}`));
  };
  const onerror = (event: ErrorEvent) => {
    event.preventDefault();
    for (const w of waiting.values()) {
      w.reject(new Error(`the signing thread failed: ${event.message}`));
    }
    waiting.clear();
  };
  for (const worker of workers) {
    worker.onmessage = onmessage;
    worker.onerror = onerror;
    worker.postMessage({ jwk });
  }
  return {
    kid,
    alg,
    sign(data) {
      if (closed) return Promise.reject(new Error("the signing thread was stopped"));
      const id = next++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        workers[id % workers.length].postMessage({ id, data });
      });
    },
    close() {
      closed = true;
      for (const worker of workers) worker.terminate();
      for (const w of waiting.values()) w.reject(new Error("the signing thread was stopped"));
      waiting.clear();
    },
  };
}
