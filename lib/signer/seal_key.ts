/**
 * Where the seal key comes from. Production supplies it (AGENTKEYS_SEAL_KEY, or a KMS/TEE behind
 * the same function); the embedded default keeps a 0600 file next to the keystore so that
 * `deno task start` works on a fresh machine.
 *
 * @module
 */

import { join } from "node:path";
import { KeystoreError } from "./errors.ts";
import { pathExists, readTextIfExists } from "../fsutil/mod.ts";

/** The seal key file in the data directory (embedded default only). */
export const SEAL_KEY_FILE = "seal.key";

/**
 * Returns the configured seal key, or reads/creates the embedded `seal.key` in `dataDir`.
 * Refuses to invent a new key when a keystore already exists: that keystore could never be
 * opened again.
 *
 * ```ts
 * const sealKey = await loadSealKey({ dataDir: "./data", keystorePath: "./data/signer/keystore.json" });
 * ```
 */
export async function loadSealKey(
  options: { configured?: Uint8Array; dataDir: string; keystorePath: string },
): Promise<Uint8Array> {
  if (options.configured) return options.configured;
  const path = join(options.dataDir, SEAL_KEY_FILE);
  const text = await readTextIfExists(path);
  if (text !== undefined) {
    const hex = text.trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      throw new KeystoreError("seal_key_invalid", `${path} does not hold 64 hex characters`);
    }
    return Uint8Array.fromHex(hex);
  }
  if (await pathExists(options.keystorePath)) {
    throw new KeystoreError(
      "seal_key_missing",
      `${options.keystorePath} exists but no seal key is configured and ${path} is missing; set AGENTKEYS_SEAL_KEY`,
    );
  }
  await Deno.mkdir(options.dataDir, { recursive: true });
  const key = crypto.getRandomValues(new Uint8Array(32));
  // createNew: two first starts racing must not both write a key.
  await Deno.writeTextFile(path, key.toHex() + "\n", { createNew: true, mode: 0o600 });
  return key;
}
