/**
 * Where things are inside the data directory, and the keystore's lock: what `openDataDir` and
 * `resealDataDir` share. Only {@linkcode KEYRING_FILES} leaves the component (through `mod.ts`).
 *
 * @module
 */

import { join } from "node:path";
import { keyringSealAad } from "../broker/mod.ts";
import { KEYSTORE_FILE, KEYSTORE_SEAL_AAD, type SealedFile } from "../signer/mod.ts";
import { withFileLock } from "../fsutil/mod.ts";

/** The state file inside the data directory. */
export const STATE_FILE = "state.kv";

/** The broker's sealed keyrings (K1, K2) inside the data directory; `lib/service` opens them. */
export const KEYRING_FILES = { k1: "broker/k1.json", k2: "broker/k2.json" } as const;

/**
 * Every file of `dataDir` sealed under the seal key: what a seal key rotation or
 * `deno task signer reseal` must move to the new key. The keystore is written under its own
 * lock by the caller; each keyring is re-sealed under the lock its writers use.
 */
export function sealedFiles(dataDir: string): SealedFile[] {
  const ring = (purpose: "k1" | "k2") => {
    const path = join(dataDir, KEYRING_FILES[purpose]);
    return { path, aad: keyringSealAad(purpose), lock: `${path}.lock` };
  };
  return [{ path: join(dataDir, KEYSTORE_FILE), aad: KEYSTORE_SEAL_AAD }, ring("k1"), ring("k2")];
}

/**
 * Runs `fn` under the keystore's file lock: the lock every change of the keystore and of the
 * seal key holds (see `lib/signer/_seal_key.ts`).
 */
export function withKeystoreLock<T>(dataDir: string, fn: () => Promise<T>): Promise<T> {
  return withFileLock(`${join(dataDir, KEYSTORE_FILE)}.lock`, fn);
}

/** A keystore was expected in the data directory and is not there. */
export class NoKeystore extends Error {
  readonly code = "no_keystore";
  constructor(path: string) {
    super(
      `no keystore at ${path}: start the service once (deno task start) or set AGENTKEYS_DATA_DIR`,
    );
    this.name = "NoKeystore";
  }
}
