/**
 * Who is an admin (ARCHITECTURE §12). With `AGENTKEYS_ADMINS` set, exactly those addresses and
 * nobody else. Without it, the operator who presented the install's one-time admin claim token
 * (see `_admin_claim.ts`); signing in never makes anyone admin.
 *
 * The claimed address lives in Deno KV (one read per admin request); the files in the data
 * directory decide whether a token may be created. If KV is lost after a claim, nobody is admin
 * until an operator sets `AGENTKEYS_ADMINS` — a lost KV must not reopen the claim.
 *
 * @module
 */

import type { AuditLog } from "../state/mod.ts";
import { AdminClaimError } from "./_errors.ts";
import type { AdminClaimFiles } from "./_admin_claim.ts";

const CLAIMED_KEY: Deno.KvKey = ["admin", "claimed"];

interface ClaimedAdmin {
  address: string;
  claimed_at: string;
}

/** What `deno task start` reports about admins (see {@linkcode AdminPolicy.prepare}). */
export type AdminClaimStatus =
  | { state: "configured"; admins: readonly string[] }
  | { state: "created"; token: string; path: string }
  | { state: "pending"; path: string }
  /** `recorded: false`: the files say claimed, KV has forgotten it; nobody is admin. */
  | { state: "claimed"; address: string; claimedAt: string; recorded: boolean }
  | { state: "lost"; path: string }
  /** No claim files (in-memory tests): nobody is admin. */
  | { state: "none" };

/**
 * ```ts
 * const admins = new AdminPolicy({ kv, configured: config.admins, claim: new AdminClaimFiles(dir), audit });
 * const status = await admins.prepare(); // at service start only
 * await admins.claim(session.address, token);
 * await admins.isAdmin(session.address);
 * ```
 */
export class AdminPolicy {
  readonly #kv: Deno.Kv;
  readonly #configured: readonly string[];
  readonly #claim?: AdminClaimFiles;
  readonly #audit?: AuditLog;

  constructor(
    options: {
      kv: Deno.Kv;
      configured: readonly string[];
      claim?: AdminClaimFiles;
      audit?: AuditLog;
    },
  ) {
    this.#kv = options.kv;
    this.#configured = options.configured.map((a) => a.toLowerCase());
    this.#claim = options.claim;
    this.#audit = options.audit;
  }

  async isAdmin(address: string): Promise<boolean> {
    const a = address.toLowerCase();
    if (this.#configured.length > 0) return this.#configured.includes(a);
    return (await this.#kv.get<ClaimedAdmin>(CLAIMED_KEY)).value?.address === a;
  }

  /**
   * Creates the claim token on the first start of an install without `AGENTKEYS_ADMINS`, or
   * reports the state of an earlier one. The service's start calls this; headless commands
   * never do.
   */
  async prepare(): Promise<AdminClaimStatus> {
    if (this.#configured.length > 0) return { state: "configured", admins: this.#configured };
    if (!this.#claim) return { state: "none" };
    const files = await this.#claim.prepare();
    if (files.state !== "claimed") return files;
    const recorded = (await this.#kv.get<ClaimedAdmin>(CLAIMED_KEY)).value?.address ===
      files.address;
    return { ...files, recorded };
  }

  /**
   * Whether an operator could still claim admin: no `AGENTKEYS_ADMINS`, a token waiting, and
   * nobody recorded as admin. Read only (the sign-in page asks, to offer the claim).
   */
  async claimOpen(): Promise<boolean> {
    if (this.#configured.length > 0 || !this.#claim) return false;
    if (!(await this.#claim.pending())) return false;
    return (await this.#kv.get(CLAIMED_KEY)).value === null;
  }

  /**
   * Makes `address` admin if `token` is the install's claim token; erases the token and writes
   * an `admin_claimed` audit entry. Throws {@linkcode AdminClaimError} otherwise.
   */
  async claim(address: string, token: unknown): Promise<{ address: string; claimed_at: string }> {
    if (this.#configured.length > 0) {
      throw new AdminClaimError(
        "admins_configured",
        "this service's admins are set by AGENTKEYS_ADMINS; there is nothing to claim",
      );
    }
    if (typeof token !== "string" || token.length === 0 || token.length > 256) {
      throw new AdminClaimError("bad_request", "token must be the admin claim token (a string)");
    }
    if (!this.#claim) {
      throw new AdminClaimError("claim_unavailable", "this service has no admin claim token");
    }
    const a = address.toLowerCase();
    let claimedAt = "";
    const outcome = await this.#claim.consume(token, a, async (at) => {
      if ((await this.#kv.get(CLAIMED_KEY)).value !== null) return false;
      claimedAt = at.toISOString();
      // Audited before it takes effect, so an admin never exists without its trail.
      await this.#audit?.append("admin_claimed", { by: a });
      const record: ClaimedAdmin = { address: a, claimed_at: claimedAt };
      const done = await this.#kv.atomic().check({ key: CLAIMED_KEY, versionstamp: null })
        .set(CLAIMED_KEY, record).commit();
      return done.ok;
    });
    if (outcome === "invalid") {
      throw new AdminClaimError("claim_invalid", "this is not the admin claim token");
    }
    if (outcome === "unavailable") {
      throw new AdminClaimError(
        "claim_unavailable",
        "the admin claim token was already used (or never created); an admin exists or " +
          "AGENTKEYS_ADMINS must be set",
      );
    }
    return { address: a, claimed_at: claimedAt };
  }
}
