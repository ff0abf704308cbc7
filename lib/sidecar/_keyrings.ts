/**
 * Keyring documents through the sidecar (issue 14): the daemon is a member of its agent's rings
 * by the agent's device key, so a local program reads a document without ever holding the device
 * key or the member key. What is kept in memory (never on disk): the member key, derived once,
 * and the highest record version and rotation verified per ring, so a replayed record is refused
 * for the daemon's life.
 *
 * @module
 */

import { ApiCallError } from "../client/mod.ts";
import { KeyringError, type SeenRecords } from "../keyrings/mod.ts";

/** Something that answers a keyring document's plaintext, as the agent. */
export interface KeyringSource {
  document(ring: string, name: string): Promise<Uint8Array>;
}

/** {@linkcode SeenRecords} in memory: the highest version (and its rotation) per ring. */
export class SeenInMemory implements SeenRecords {
  readonly #seen = new Map<string, { version: number; rotation: number }>();

  get(operatorOmni: string, ring: string) {
    return Promise.resolve(this.#seen.get(`${operatorOmni}/${ring}`));
  }

  set(operatorOmni: string, ring: string, seen: { version: number; rotation: number }) {
    const key = `${operatorOmni}/${ring}`;
    const prev = this.#seen.get(key);
    // Concurrent reads may verify records out of order: only a higher version replaces.
    if (!prev || seen.version > prev.version) this.#seen.set(key, seen);
    return Promise.resolve();
  }
}

/** How the sidecar answers a failed keyring read: `{status, error, message}`. */
export interface KeyringRefusal {
  status: number;
  error: string;
  message: string;
}

/**
 * Maps a failure of {@linkcode KeyringSource.document} to the sidecar's answer: the service's
 * 403 and 404 pass through with its code (`not_a_member`, `keyring_not_found`, `not_found`,
 * `device_revoked`…), and so does a document of a rotation this agent holds no key of (403
 * `not_a_member`); a record or document that fails the member's checks is 502 with the reason; the service unreachable or failing is 503; any other refusal 502 `keyring_refused`.
 */
export function keyringRefusal(err: unknown): KeyringRefusal {
  if (err instanceof KeyringError) {
    // Not a member of the document's rotation (e.g. added later without history): the record
    // is fine, this agent holds no key for it — a refusal, as the worker's own not_a_member.
    const status = err.code === "not_a_member" ? 403 : 502;
    return { status, error: err.code, message: `refused by the sidecar: ${err.message}` };
  }
  if (err instanceof ApiCallError && err.status !== 0 && err.status < 500) {
    if (err.status === 403 || err.status === 404) {
      return { status: err.status, error: err.code, message: err.answer };
    }
    return {
      status: 502,
      error: "keyring_refused",
      message: `the AgentKeys service refused: ${err.code}`,
    };
  }
  if (err instanceof ApiCallError) {
    return {
      status: 503,
      error: "service_unavailable",
      message: "the AgentKeys service cannot be reached",
    };
  }
  throw err;
}
