/**
 * `migrate-legacy` (issue 13): moves the reference implementation's credentials into envelope v2
 * under the mapped actor, through the worker's write path, verifying every copy before anything
 * legacy is deleted. Idempotent: a re-run finds what an earlier (or killed) run already did.
 *
 * Per legacy key (v2 paths first, so a v1 copy of the same credential meets the v2 one migrated):
 * - a v2 key whose blob authenticates as this project's envelope is not legacy: `skipped`;
 * - the legacy blob must decrypt under the signer key, else `failed` and nothing is written;
 * - target free → written with `If-None-Match: *`, read back through the worker, compared;
 * - target holds the same plaintext → `skipped` (already migrated); another one → `conflict`;
 * - the collision (a legacy v2 blob of the operator's wallet *is* the target key): the legacy
 *   bytes are first copied to `legacy-backup/<key>` (If-None-Match, read back, compared), then
 *   replaced with compare-and-swap on the etag just read; the backup is the legacy copy
 *   `--delete-legacy` removes.
 * - `--delete-legacy` deletes a legacy object only after its new copy was read back and decrypted
 *   to the same bytes.
 *
 * @module
 */

import { type BlobStore, PreconditionFailed, StoreError } from "../store/mod.ts";
import { StateBusy } from "../state/mod.ts";
import {
  agentActorOmni,
  isAddress,
  isValidLabel,
  normalizeAddress,
  omniToHex,
  operatorOmniOf,
} from "../identity/mod.ts";
import type { IdentityReader } from "../identity/mod.ts";
import { type BlobLocation, credentialLocation } from "../worker/mod.ts";
import type { PutConditions } from "../store/mod.ts";
import {
  legacyKek,
  type LegacyKey,
  legacyOmniHex,
  LegacyOpenFailed,
  type LegacySigner,
  openLegacy,
  parseLegacyKey,
} from "./_legacy.ts";

/** A blob's outcome, as the per-blob log prints it. */
export type MigrateOutcome = "migrated" | "would-migrate" | "skipped" | "conflict" | "failed";

/** One line of the per-blob log. */
export interface MigrateBlobEvent {
  key: string;
  wallet: string | null;
  service: string;
  actor_omni: string | null;
  outcome: MigrateOutcome;
  reason?: string;
  /** The legacy object (or its collision backup) was deleted after verification. */
  deleted?: boolean;
}

export interface MigrateSummary {
  migrated: number;
  would_migrate: number;
  skipped: number;
  conflict: number;
  failed: number;
  deleted: number;
  state: "succeeded" | "failed" | "aborted";
  error?: string;
}

/** The worker trust zone's access a migration needs (`VaultWorker` provides it). */
export interface MigrationWorker {
  writeAsService(
    loc: BlobLocation,
    plaintext: Uint8Array,
    owner: { operatorOmni?: string; actorOmni: string },
    put?: PutConditions,
  ): Promise<unknown>;
  readAsService(loc: BlobLocation): Promise<{ plaintext: Uint8Array }>;
  openAsService(loc: BlobLocation, blob: Uint8Array): Uint8Array | null;
}

export interface MigrateParams {
  /** The operator's wallet address (`--operator`). */
  operator: string;
  /** Agent wallets → agent labels the operator registered on chain (`--map`). */
  map: Record<string, string>;
  dryRun?: boolean;
  deleteLegacy?: boolean;
}

export interface MigrateDeps {
  /** Where the legacy blobs are (the vault store itself, or another bucket). */
  source: BlobStore;
  /** The vault store the worker writes (same object as `source` when migrating in place). */
  target: BlobStore;
  worker: MigrationWorker;
  signer: LegacySigner;
  identity: Pick<IdentityReader, "agentsOf" | "getDevice">;
  /** Records each move (`legacy_migrated`). */
  audit?: { append(kind: string, data: Record<string, unknown>): Promise<unknown> };
  /** Details of failures (store messages) for the operator's log; events carry codes. */
  warn?: (message: string) => void;
}

/** A usage problem found before anything is read (maps to exit 2 / HTTP 400). */
export class InvalidMigrateParams extends Error {
  readonly code = "invalid_params";
  constructor(message: string) {
    super(message);
    this.name = "InvalidMigrateParams";
  }
}

/** Where collision backups live: outside `bots/`, so no census or job ever counts them. */
export const BACKUP_PREFIX = "legacy-backup/";

interface Mapped {
  wallet: string;
  actorOmni: string;
}

/**
 * Resolves `--operator` and `--map` against the chain: every mapped label must be a live
 * (not revoked) agent of this operator; the newest generation wins. Throws
 * {@linkcode InvalidMigrateParams}.
 */
export async function resolveMapping(
  params: MigrateParams,
  identity: Pick<IdentityReader, "agentsOf" | "getDevice">,
): Promise<{ operatorOmni: string; wallets: Map<string, Mapped> }> {
  if (!isAddress(params.operator)) {
    throw new InvalidMigrateParams(`--operator must be a 0x wallet address`);
  }
  const operator = normalizeAddress(params.operator).toLowerCase();
  const operatorOmni = operatorOmniOf(operator);
  const wallets = new Map<string, Mapped>([[operator, {
    wallet: operator,
    actorOmni: operatorOmni,
  }]]);
  const entries = Object.entries(params.map);
  if (entries.length === 0) return { operatorOmni, wallets };
  const agents = new Map<string, { actorOmni: string; generation: number }>();
  for (const hash of await identity.agentsOf(operatorOmni as `0x${string}`)) {
    const d = await identity.getDevice(hash);
    if (!d || d.revoked || d.operatorOmni !== operatorOmni) continue;
    const known = agents.get(d.label);
    if (!known || d.generation > known.generation) {
      agents.set(d.label, { actorOmni: d.actorOmni, generation: d.generation });
    }
  }
  for (const [rawWallet, label] of entries) {
    if (!isAddress(rawWallet)) throw new InvalidMigrateParams(`--map ${rawWallet}: not a wallet`);
    if (!isValidLabel(label)) throw new InvalidMigrateParams(`--map ${rawWallet}: bad label`);
    const wallet = rawWallet.toLowerCase();
    if (wallet === operator) {
      throw new InvalidMigrateParams(
        `--map ${rawWallet}: the operator's own wallet maps to itself`,
      );
    }
    const agent = agents.get(label);
    if (!agent) {
      throw new InvalidMigrateParams(
        `--map ${rawWallet}=${label}: no live agent with this label is registered by the operator`,
      );
    }
    // Recomputed from the label, as the registry does: the chain's answer must agree.
    if (agentActorOmni(operatorOmni, label, agent.generation) !== agent.actorOmni) {
      throw new InvalidMigrateParams(
        `--map ${rawWallet}=${label}: the chain's actor does not match`,
      );
    }
    wallets.set(wallet, { wallet, actorOmni: agent.actorOmni });
  }
  return { operatorOmni, wallets };
}

/**
 * Runs a migration; `sink` receives each blob's event as it is decided. Resolves to the
 * summary; an expired store credential aborts the run (`state: "aborted"`, re-run to continue).
 *
 * ```ts
 * const summary = await runMigration(deps, { operator, map: {}, deleteLegacy: true }, console.log);
 * ```
 */
export async function runMigration(
  deps: MigrateDeps,
  params: MigrateParams,
  sink: (event: MigrateBlobEvent) => void | Promise<void>,
): Promise<MigrateSummary> {
  const { operatorOmni, wallets } = await resolveMapping(params, deps.identity);
  const summary: MigrateSummary = {
    migrated: 0,
    would_migrate: 0,
    skipped: 0,
    conflict: 0,
    failed: 0,
    deleted: 0,
    state: "succeeded",
  };
  const m = new Migrator(deps, params, operatorOmni);
  try {
    // v2 paths first: a v1 copy of the same credential then meets the v2 one already migrated.
    for (const version of [2, 1] as const) {
      for (const w of wallets.values()) {
        const prefix = version === 1
          ? `bots/${w.wallet}/credentials/`
          : `bots/${legacyOmniHex(w.wallet)}/credentials/`;
        for await (const info of deps.source.list(prefix)) {
          const parsed = parseLegacyKey(info.key);
          if (!parsed) continue;
          const event = await m.one(info.key, parsed, w);
          summary[event.outcome === "would-migrate" ? "would_migrate" : event.outcome]++;
          if (event.deleted) summary.deleted++;
          await sink(event);
        }
      }
    }
  } catch (err) {
    if (isExpired(err)) {
      summary.state = "aborted";
      summary.error = "store credentials expired: re-run with fresh ones to continue";
      return summary;
    }
    throw err;
  }
  if (summary.failed > 0) summary.state = "failed";
  return summary;
}

/** An expired store credential, also when the worker wrapped it (`cause`). */
function isExpired(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as Error).cause, depth++) {
    if ((e as { code?: string }).code === "credentials_expired") return true;
  }
  return false;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

class Migrator {
  readonly #inPlace: boolean;
  constructor(
    private readonly deps: MigrateDeps,
    private readonly params: MigrateParams,
    private readonly operatorOmni: string,
  ) {
    this.#inPlace = deps.source === deps.target;
  }

  async one(key: string, parsed: LegacyKey, w: Mapped): Promise<MigrateBlobEvent> {
    const base = { key, wallet: w.wallet, service: parsed.service, actor_omni: w.actorOmni };
    try {
      return { ...base, ...(await this.#decide(key, parsed, w)) };
    } catch (err) {
      if (isExpired(err)) throw err;
      if (err instanceof LegacyOpenFailed) {
        return { ...base, outcome: "failed", reason: `${err.code}: ${err.message}` };
      }
      // The stack too: an unexpected error here is a bug to find (stacks carry no secrets).
      this.deps.warn?.(`migrate ${key}: ${(err as Error).stack ?? (err as Error).message}`);
      const code = err instanceof StoreError
        ? `${err.code}: the blob store failed (details in the log)`
        : err instanceof StateBusy // another process on the data directory: nothing is lost
        ? `${err.code}: another process kept the state store busy, re-run the migration`
        : `internal_error: ${(err as Error).name}`;
      return { ...base, outcome: "failed", reason: code };
    }
  }

  async #decide(
    key: string,
    parsed: LegacyKey,
    w: Mapped,
  ): Promise<Omit<MigrateBlobEvent, "key" | "wallet" | "service" | "actor_omni">> {
    const { source, worker } = this.deps;
    const loc = credentialLocation(omniToHex(w.actorOmni), parsed.service);
    const src = await source.get(key);
    if (src === null) return { outcome: "skipped", reason: "gone: deleted since it was listed" };
    const collision = this.#inPlace && key === loc.key;
    if (parsed.version === 2) {
      // Told apart by authenticated decryption, never by the first byte: an envelope of this
      // project at that key is not legacy.
      const own = credentialLocation(parsed.owner, parsed.service);
      const current = worker.openAsService(own, src.body);
      if (current !== null) {
        current.fill(0);
        return collision ? await this.#afterCollision(key, parsed, w) : {
          outcome: "skipped",
          reason: "current: an AgentKeys envelope, not a legacy blob",
        };
      }
    }
    const kek = await legacyKek(this.deps.signer, w.wallet, parsed.service);
    let plaintext: Uint8Array;
    try {
      plaintext = openLegacy(kek, w.wallet, parsed.service, src.body);
    } finally {
      kek.fill(0);
    }
    // It authenticated: a blob from before pointers is adopted now (lib/integrity).
    await src.adopt?.();
    try {
      if (collision) return await this.#inPlaceMove(key, loc, w, src, plaintext);
      return await this.#copy(key, loc, w, plaintext);
    } finally {
      plaintext.fill(0);
    }
  }

  /** Legacy key ≠ target key: a new copy with If-None-Match, verified, then maybe delete. */
  async #copy(key: string, loc: BlobLocation, w: Mapped, plaintext: Uint8Array) {
    const { target, worker } = this.deps;
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await target.get(loc.key);
      if (existing !== null) {
        const there = worker.openAsService(loc, existing.body);
        if (there === null) {
          return {
            outcome: "conflict" as const,
            reason: "target_not_envelope: the target key holds a blob that is not this actor's " +
              "envelope (a legacy v2 blob of the same credential?); left both untouched",
          };
        }
        const same = equalBytes(there, plaintext);
        there.fill(0);
        if (!same) {
          return {
            outcome: "conflict" as const,
            reason: "newer_exists: the actor already has a different credential for this service",
          };
        }
        const deleted = await this.#deleteLegacy(key);
        return { outcome: "skipped" as const, reason: "already migrated", ...deleted };
      }
      if (this.params.dryRun) return { outcome: "would-migrate" as const };
      try {
        await worker.writeAsService(loc, plaintext, this.#owner(w), { ifNoneMatch: "*" });
      } catch (err) {
        if (err instanceof PreconditionFailed) continue; // written meanwhile: decide again
        throw err;
      }
      await this.#verify(loc, plaintext);
      await this.#audit(key, loc, w, false);
      const deleted = await this.#deleteLegacy(key);
      if (deleted.deleted) await this.#audit(key, loc, w, true);
      return { outcome: "migrated" as const, ...deleted };
    }
    return { outcome: "failed" as const, reason: "contended: the target kept changing" };
  }

  /**
   * The collision: the legacy v2 blob of the operator's wallet sits at the target key. Back the
   * legacy bytes up (verified), then replace with compare-and-swap on the etag just read.
   */
  async #inPlaceMove(
    key: string,
    loc: BlobLocation,
    w: Mapped,
    src: { body: Uint8Array; etag: string },
    plaintext: Uint8Array,
  ) {
    if (this.params.dryRun) return { outcome: "would-migrate" as const, reason: "in place" };
    const { target, worker } = this.deps;
    const backup = BACKUP_PREFIX + key;
    try {
      await target.put(backup, src.body, { ifNoneMatch: "*" });
    } catch (err) {
      if (!(err instanceof PreconditionFailed)) throw err; // an earlier run made it
    }
    const saved = await target.get(backup);
    if (saved === null || !equalBytes(saved.body, src.body)) {
      return {
        outcome: "failed" as const,
        reason: "backup_differs: legacy-backup/ holds other bytes for this key; left untouched",
      };
    }
    try {
      await worker.writeAsService(loc, plaintext, this.#owner(w), { ifMatch: src.etag });
    } catch (err) {
      if (err instanceof PreconditionFailed) {
        return { outcome: "conflict" as const, reason: "changed_meanwhile: re-run" };
      }
      throw err;
    }
    await this.#verify(loc, plaintext);
    await this.#audit(key, loc, w, false);
    const deleted = await this.#deleteLegacy(backup);
    if (deleted.deleted) await this.#audit(key, loc, w, true);
    return { outcome: "migrated" as const, reason: "in place", ...deleted };
  }

  /** The collision key already holds an envelope: migrated by an earlier (maybe killed) run? */
  async #afterCollision(key: string, parsed: LegacyKey, w: Mapped) {
    const backup = await this.deps.target.get(BACKUP_PREFIX + key);
    if (backup === null) {
      return { outcome: "skipped" as const, reason: "current: an AgentKeys envelope, not legacy" };
    }
    // A backup remains: delete it only if it opens to what the envelope holds now.
    const loc = credentialLocation(omniToHex(w.actorOmni), parsed.service);
    if (!this.params.deleteLegacy || this.params.dryRun) {
      return { outcome: "skipped" as const, reason: "already migrated (legacy backup kept)" };
    }
    const kek = await legacyKek(this.deps.signer, w.wallet, parsed.service);
    const old = openLegacy(kek, w.wallet, parsed.service, backup.body);
    kek.fill(0);
    try {
      const now = await this.deps.worker.readAsService(loc);
      const same = equalBytes(now.plaintext, old);
      now.plaintext.fill(0);
      if (!same) {
        return {
          outcome: "skipped" as const,
          reason: "already migrated; the credential changed since, so the legacy backup is kept",
        };
      }
    } finally {
      old.fill(0);
    }
    const deleted = await this.#deleteLegacy(BACKUP_PREFIX + key);
    if (deleted.deleted) await this.#audit(key, loc, w, true);
    return { outcome: "skipped" as const, reason: "already migrated", ...deleted };
  }

  /** Reads the new copy back through the worker and compares; throws when it differs. */
  async #verify(loc: BlobLocation, plaintext: Uint8Array): Promise<void> {
    const back = await this.deps.worker.readAsService(loc);
    const same = equalBytes(back.plaintext, plaintext);
    back.plaintext.fill(0);
    if (!same) throw new Error("the new copy read back differs from the legacy plaintext");
  }

  async #deleteLegacy(key: string): Promise<{ deleted?: boolean }> {
    if (!this.params.deleteLegacy || this.params.dryRun) return {};
    const store = key.startsWith(BACKUP_PREFIX) ? this.deps.target : this.deps.source;
    return { deleted: await store.delete(key) };
  }

  #owner(w: Mapped) {
    return { operatorOmni: this.operatorOmni, actorOmni: w.actorOmni };
  }

  async #audit(from: string, loc: BlobLocation, w: Mapped, deleted: boolean): Promise<void> {
    await this.deps.audit?.append(deleted ? "legacy_deleted" : "legacy_migrated", {
      operator_omni: this.operatorOmni,
      actor_omni: w.actorOmni,
      wallet: w.wallet,
      service: loc.objectName,
      from,
      to: loc.key,
    });
  }
}
