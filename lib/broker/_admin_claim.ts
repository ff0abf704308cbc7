/**
 * The one-time admin claim token of an install without `AGENTKEYS_ADMINS` (ARCHITECTURE §12):
 * two files in the data directory.
 *
 * - `admin-claim.token` (0600): the token itself, 256 random bits as hex, until it is claimed.
 * - `admin-claim.json`: `{created_at}`, and once claimed `{claimed_at, address}` too.
 *
 * The marker, not Deno KV, decides whether a token may ever be created: a data directory whose
 * `state.kv` was lost or deleted must not hand out a fresh token to whoever starts it next. A
 * token is created only when neither file exists. Both are written atomically, and every
 * read-modify-write holds `admin-claim.lock` (flock), so two processes never both create or both
 * consume a token.
 *
 * ```ts
 * const files = new AdminClaimFiles("./data");
 * const status = await files.prepare(); // creates the token on the very first start
 * if (status.state === "created") console.log(status.token);
 * ```
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { dirname, join } from "node:path";
import { readTextIfExists, syncDir, withFileLock, writeFileAtomic } from "../fsutil/mod.ts";

export const ADMIN_CLAIM_TOKEN_FILE = "admin-claim.token";
export const ADMIN_CLAIM_MARKER_FILE = "admin-claim.json";
const LOCK_FILE = "admin-claim.lock";

/** What `admin-claim.json` holds. */
export interface AdminClaimMarker {
  created_at: string;
  claimed_at?: string;
  /** The claimer's lowercase address. */
  address?: string;
}

/** The claim files as found (or made) at start. */
export type AdminClaimFileState =
  /** Created by this call: the only moment the token value is known to the caller. */
  | { state: "created"; token: string; path: string }
  /** Created by an earlier start and not claimed yet. */
  | { state: "pending"; path: string }
  | { state: "claimed"; address: string; claimedAt: string }
  /** The marker says a token was made, but its file is gone and nobody claimed it. */
  | { state: "lost"; path: string };

/** Why {@linkcode AdminClaimFiles.consume} did not accept a token. */
export type ConsumeOutcome = "claimed" | "invalid" | "unavailable";

/**
 * ```ts
 * const files = new AdminClaimFiles(dataDir);
 * await files.consume(token, address, async () => { ... record the admin ... });
 * ```
 */
export class AdminClaimFiles {
  readonly tokenPath: string;
  readonly markerPath: string;
  readonly #lockPath: string;

  constructor(readonly dir: string, private readonly now: () => Date = () => new Date()) {
    this.tokenPath = join(dir, ADMIN_CLAIM_TOKEN_FILE);
    this.markerPath = join(dir, ADMIN_CLAIM_MARKER_FILE);
    this.#lockPath = join(dir, LOCK_FILE);
  }

  /**
   * Creates the token when neither it nor the marker exists; otherwise reports what is there.
   * Only the service's start calls this (headless commands never create a token).
   */
  prepare(): Promise<AdminClaimFileState> {
    return withFileLock(this.#lockPath, async () => {
      const marker = await this.#marker();
      const token = await readTextIfExists(this.tokenPath);
      if (marker?.claimed_at && marker.address) {
        // A crash between writing the marker and erasing the token leaves the token behind.
        if (token !== undefined) await eraseFile(this.tokenPath);
        return { state: "claimed", address: marker.address, claimedAt: marker.claimed_at };
      }
      if (token !== undefined) {
        if (!marker) await this.#writeMarker({ created_at: this.now().toISOString() });
        return { state: "pending", path: this.tokenPath };
      }
      if (marker) return { state: "lost", path: this.tokenPath };
      const fresh = crypto.getRandomValues(new Uint8Array(32)).toHex();
      await writeFileAtomic(this.tokenPath, new TextEncoder().encode(fresh + "\n"), {
        mode: 0o600,
      });
      await this.#writeMarker({ created_at: this.now().toISOString() });
      return { state: "created", token: fresh, path: this.tokenPath };
    });
  }

  /**
   * Whether a token waits to be claimed (read only: never creates one). The console's sign-in
   * page asks, to offer the claim.
   */
  async pending(): Promise<boolean> {
    return ((await readTextIfExists(this.tokenPath))?.trim() ?? "") !== "";
  }

  /**
   * Checks `token` against the file (constant time) and, when it matches, runs `record` (which
   * makes the address admin durably), then marks the claim and erases the token. `record` runs
   * under the lock, so it runs at most once per token. A `record` that throws leaves the token.
   */
  consume(
    token: string,
    address: string,
    record: (claimedAt: Date) => Promise<boolean>,
  ): Promise<ConsumeOutcome> {
    return withFileLock(this.#lockPath, async () => {
      const stored = (await readTextIfExists(this.tokenPath))?.trim();
      if (stored === undefined || stored === "") return "unavailable";
      if (!sameSecret(stored, token.trim())) return "invalid";
      const at = this.now();
      if (!(await record(at))) return "unavailable";
      const marker = await this.#marker();
      await this.#writeMarker({
        created_at: marker?.created_at ?? at.toISOString(),
        claimed_at: at.toISOString(),
        address: address.toLowerCase(),
      });
      await eraseFile(this.tokenPath);
      return "claimed";
    });
  }

  async #marker(): Promise<AdminClaimMarker | undefined> {
    const text = await readTextIfExists(this.markerPath);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as AdminClaimMarker;
    } catch {
      // Unreadable is still "a token was made here": never a reason to make a new one.
      return { created_at: "unknown" };
    }
  }

  async #writeMarker(marker: AdminClaimMarker): Promise<void> {
    await writeFileAtomic(
      this.markerPath,
      new TextEncoder().encode(JSON.stringify(marker, null, 2) + "\n"),
      { mode: 0o600 },
    );
  }
}

/** Equal-length digests, so neither the length nor the first differing byte leaks. */
function sameSecret(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db);
}

/** Overwrites the file's bytes with zeros, syncs, then unlinks it. */
async function eraseFile(path: string): Promise<void> {
  const file = await Deno.open(path, { write: true });
  try {
    const zeros = new Uint8Array((await file.stat()).size);
    let written = 0;
    while (written < zeros.length) written += await file.write(zeros.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.remove(path);
  await syncDir(dirname(path));
}
