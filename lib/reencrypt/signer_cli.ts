/**
 * `deno task signer`: epoch administration against the configured keystore, in-process.
 *
 * ```text
 * deno task signer epochs                          list epochs, the latest census, pending chain records
 * deno task signer rotate                          activate epoch N+1 (N becomes retiring)
 * deno task signer census                          count blobs per epoch over the whole store
 * deno task signer drop-old-k3 --epoch N [--force] [--use-latest-census]
 * deno task signer reconcile                       record pending epoch changes on chain
 * deno task signer audit-verify                    walk the audit log's hash chain
 * ```
 *
 * **drop-old-k3** takes a fresh global census (unless `--use-latest-census`), then destroys the
 * epoch through `censusDestroyGuard`: it refuses (exit 1, with the counts) unless that census
 * started after the last write under the epoch and counted zero blobs. `--force` skips the guard;
 * it is written to the audit log as `epoch_destroy_forced` *before* the key is erased, and
 * warned about on stderr.
 *
 * **Chain records.** Every rotation and destruction is meant to be recorded on chain through an
 * {@linkcode EpochRecorder}. Without one (the headless default until the chain client is wired),
 * nothing is recorded on chain and the output says so. When the recorder is missing or fails
 * after the keystore changed, the gap is stored as a pending chain record (KV and audit log);
 * `deno task signer reconcile` records pending changes once a recorder is available (for
 * rotations it needs `currentEpoch()` so it never advances the counter twice). Until then,
 * `deno task signer epochs` lists them.
 *
 * Exit codes: 0 done, 1 refused or not fully recorded, 2 usage error.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Config, ConfigError, loadConfig } from "../config/mod.ts";
import { EpochStateError } from "../signer/mod.ts";
import type { AuditLog, Census } from "../state/mod.ts";
import { takeCensus } from "./census.ts";
import { EpochInUse, isExpiry } from "./errors.ts";
import { censusDestroyGuard } from "./guard.ts";
import { type Headless, openHeadless } from "./headless.ts";
import type { TextOut } from "./cli.ts";
import { type EpochRecorder, KvChainPending, type PendingChainRecord } from "./recorder.ts";

export const SIGNER_USAGE = `usage: deno task signer <command>
  epochs                                  list epochs, the latest census, pending chain records
  rotate                                  activate the next epoch; the active one starts retiring
  census                                  count blobs per epoch over the whole store
  drop-old-k3 --epoch N [--force] [--use-latest-census]
                                          erase a retiring epoch's key once a census proves it empty
  reconcile                               record pending epoch changes on chain
  audit-verify                            check the audit log's hash chain
exit codes: 0 done, 1 refused or not fully recorded, 2 usage error`;

/** What {@linkcode signerMain} may be given instead of the real process environment. */
export interface SignerCliDeps {
  env: Record<string, string | undefined>;
  stdout?: TextOut;
  stderr?: TextOut;
  openHeadless?: (config: Config) => Promise<Headless>;
  /** Records epoch changes on chain; absent: nothing is recorded on chain (and it says so). */
  recorder?: EpochRecorder;
  /** Replaces the headless KV audit log. */
  audit?: AuditLog;
}

class UsageError extends Error {}

const NOT_RECORDED = "NOT recorded on chain: no chain recorder is configured in this headless " +
  "command; saved as a pending chain record for `deno task signer reconcile`";

/**
 * Runs one signer command; resolves with the exit code.
 *
 * ```ts
 * const code = await signerMain(["drop-old-k3", "--epoch", "1"], { env: Deno.env.toObject() });
 * ```
 */
export async function signerMain(args: string[], deps: SignerCliDeps): Promise<number> {
  const out = deps.stdout ?? textOut(Deno.stdout);
  const err = deps.stderr ?? textOut(Deno.stderr);
  let command: string;
  let flags: { epoch?: number; force: boolean; useLatest: boolean };
  try {
    ({ command, flags } = parse(args));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    await err.write(`signer: ${e.message}\n${SIGNER_USAGE}\n`);
    return 2;
  }
  if (command === "help") {
    await out.write(SIGNER_USAGE + "\n");
    return 0;
  }
  let headless: Headless;
  try {
    headless = await (deps.openHeadless ?? ((c: Config) => openHeadless(c)))(loadConfig(deps.env));
  } catch (e) {
    await err.write(`signer: ${(e as Error).message}\n`);
    return e instanceof ConfigError ? 2 : 1;
  }
  const ctx: Ctx = {
    h: headless,
    out,
    err,
    audit: deps.audit ?? headless.audit,
    recorder: deps.recorder,
    pending: new KvChainPending(headless.state.kv),
  };
  try {
    switch (command) {
      case "epochs":
        return await epochs(ctx);
      case "rotate":
        return await rotate(ctx);
      case "census":
        return await census(ctx);
      case "drop-old-k3":
        return await dropOldK3(ctx, flags.epoch!, flags.force, flags.useLatest);
      case "reconcile":
        return await reconcile(ctx);
      default: // "audit-verify"
        return await auditVerify(ctx);
    }
  } catch (e) {
    await err.write(`signer: ${(e as Error).message}\n`);
    return isExpiry(e) ? 75 : 1;
  } finally {
    await headless.close();
  }
}

interface Ctx {
  h: Headless;
  out: TextOut;
  err: TextOut;
  audit: AuditLog;
  recorder?: EpochRecorder;
  pending: KvChainPending;
}

function parse(args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        epoch: { type: "string" },
        force: { type: "boolean" },
        "use-latest-census": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: "help", flags: { force: false, useLatest: false } };
  const commands = ["epochs", "rotate", "census", "drop-old-k3", "reconcile", "audit-verify"];
  if (positionals.length !== 1 || !commands.includes(positionals[0])) {
    throw new UsageError(
      positionals.length === 0
        ? "a command is required"
        : `unknown command ${positionals.join(" ")}`,
    );
  }
  const command = positionals[0];
  const flags = {
    epoch: undefined as number | undefined,
    force: values.force ?? false,
    useLatest: values["use-latest-census"] ?? false,
  };
  if (command === "drop-old-k3") {
    if (values.epoch === undefined) throw new UsageError("drop-old-k3 needs --epoch N");
    if (!/^\d+$/.test(values.epoch) || Number(values.epoch) < 1) {
      throw new UsageError(`--epoch must be a whole number >= 1, got ${values.epoch}`);
    }
    flags.epoch = Number(values.epoch);
  } else if (values.epoch !== undefined || values.force || values["use-latest-census"]) {
    throw new UsageError(`${command} takes no --epoch, --force or --use-latest-census`);
  }
  return { command, flags };
}

async function epochs(ctx: Ctx): Promise<number> {
  const { h, out } = ctx;
  const lines = h.keystore.list().map((e) =>
    `epoch ${e.epoch} ${e.state} created ${e.createdAt}` +
    (e.retiredAt ? ` retired ${e.retiredAt}` : "") +
    (e.destroyedAt ? ` destroyed ${e.destroyedAt}` : "")
  );
  const latest = await h.censusStore.latestGlobal();
  lines.push(
    latest ? `census ${latest.taken_at}: ${countsText(latest)}` : "census: none taken yet",
  );
  for (const p of await ctx.pending.list()) lines.push(`pending chain record: ${pendingText(p)}`);
  await out.write(lines.join("\n") + "\n");
  return 0;
}

async function rotate(ctx: Ctx): Promise<number> {
  const { h, out, err } = ctx;
  const { active, previous } = await h.keystore.rotate();
  const at = new Date().toISOString();
  await out.write(`epoch ${active} is active; epoch ${previous} is retiring\n`);
  if (!ctx.recorder) {
    await ctx.pending.add({ kind: "advance_epoch", epoch: active, reason: "no_recorder", at });
    await ctx.audit.append("epoch_rotated", { active, previous, chain: "not_recorded" });
    await out.write(`${NOT_RECORDED}\n`);
    return 0;
  }
  try {
    const { epoch, txHash } = await ctx.recorder.advanceEpoch();
    if (epoch !== active) {
      await ctx.pending.add({
        kind: "advance_epoch",
        epoch: active,
        reason: "epoch_mismatch",
        at,
        chain_epoch: epoch,
      });
      await ctx.audit.append("epoch_rotated", {
        active,
        previous,
        chain: "mismatch",
        chain_epoch: epoch,
        tx_hash: txHash,
      });
      await err.write(
        `signer: MISMATCH: the keystore activated epoch ${active} but the chain counter is now ` +
          `${epoch} (tx ${txHash}); recorded as pending — reconcile the counter and the keystore\n`,
      );
      return 1;
    }
    await ctx.audit.append("epoch_rotated", {
      active,
      previous,
      chain: "recorded",
      tx_hash: txHash,
    });
    await out.write(`recorded on chain: advanceEpoch tx ${txHash}\n`);
    return 0;
  } catch (e) {
    const error = (e as Error).message;
    await ctx.pending.add({
      kind: "advance_epoch",
      epoch: active,
      reason: "recorder_failed",
      at,
      error,
    });
    await ctx.audit.append("epoch_rotated", { active, previous, chain: "failed", error });
    await err.write(
      `signer: the keystore rotated to epoch ${active}, but recording it on chain FAILED: ${error}\n` +
        `signer: saved as a pending chain record; run \`deno task signer reconcile\` when the chain ` +
        `is reachable\n`,
    );
    return 1;
  }
}

async function census(ctx: Ctx): Promise<number> {
  const { h, out } = ctx;
  const taken = await takeCensus({ store: h.store, keys: h.keystore });
  await h.censusStore.save(taken);
  await out.write(`census ${taken.taken_at}: ${countsText(taken)}\n`);
  return 0;
}

async function dropOldK3(
  ctx: Ctx,
  epoch: number,
  force: boolean,
  useLatest: boolean,
): Promise<number> {
  const { h, out, err } = ctx;
  const state = h.keystore.stateOf(epoch);
  if (state === undefined) {
    await err.write(`signer: epoch ${epoch} does not exist\n`);
    return 2;
  }
  if (state !== "retiring") {
    await err.write(
      `signer: epoch ${epoch} is ${state}; only a retiring epoch can be destroyed` +
        (state === "active" ? " (rotate first)" : "") + "\n",
    );
    return state === "active" ? 2 : 1;
  }
  let latest: Census | null;
  if (force) {
    latest = await h.censusStore.latestGlobal();
    const lastWrite = await h.ledger.lastWrite(epoch);
    const count = latest?.global?.[String(epoch)] ?? null;
    await err.write(
      `signer: WARNING: --force destroys epoch ${epoch} WITHOUT the census check ` +
        `(latest census: ${
          latest ? `${latest.taken_at}, ${count ?? 0} blob(s) under it` : "none"
        }); ` +
        `any blob still under it becomes unreadable forever; this is recorded in the audit log\n`,
    );
    await ctx.audit.append("epoch_destroy_forced", {
      epoch,
      census_taken_at: latest?.taken_at ?? null,
      census_count: count,
      last_write_at: lastWrite?.toISOString() ?? null,
    });
  } else if (!useLatest) {
    await out.write(`taking a census of the whole store…\n`);
    latest = await takeCensus({ store: h.store, keys: h.keystore });
    await h.censusStore.save(latest);
    await out.write(`census ${latest.taken_at}: ${countsText(latest)}\n`);
  }
  let destroyedAt: string;
  try {
    const guard = force
      ? undefined
      : censusDestroyGuard({ censusStore: h.censusStore, ledger: h.ledger });
    destroyedAt = (await h.keystore.destroy(epoch, { guard })).destroyedAt!;
  } catch (e) {
    if (e instanceof EpochInUse) {
      await ctx.audit.append("epoch_destroy_refused", {
        epoch,
        reason: e.reason,
        count: e.count,
        census_taken_at: e.census?.taken_at ?? null,
        last_write_at: e.lastWriteAt,
      });
      await err.write(
        `signer: refused: ${e.message}\n` +
          `signer: counts: ${e.census ? JSON.stringify(e.census.global) : "(no census)"}\n`,
      );
      return 1;
    }
    if (e instanceof EpochStateError) {
      await err.write(`signer: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  await ctx.audit.append("epoch_destroyed", { epoch, destroyed_at: destroyedAt, forced: force });
  await out.write(`epoch ${epoch} destroyed at ${destroyedAt}${force ? " (FORCED)" : ""}\n`);
  if (!ctx.recorder) {
    await ctx.pending.add({
      kind: "epoch_destroyed",
      epoch,
      reason: "no_recorder",
      at: destroyedAt,
    });
    await out.write(`${NOT_RECORDED}\n`);
    return 0;
  }
  try {
    const { txHash } = await ctx.recorder.recordEpochDestroyed(epoch);
    await ctx.audit.append("epoch_destroyed_recorded", { epoch, tx_hash: txHash });
    await out.write(`recorded on chain: recordEpochDestroyed tx ${txHash}\n`);
    return 0;
  } catch (e) {
    const error = (e as Error).message;
    await ctx.pending.add({
      kind: "epoch_destroyed",
      epoch,
      reason: "recorder_failed",
      at: destroyedAt,
      error,
    });
    await ctx.audit.append("chain_record_failed", { kind: "epoch_destroyed", epoch, error });
    await err.write(
      `signer: epoch ${epoch} is destroyed, but recording it on chain FAILED: ${error}\n` +
        `signer: saved as a pending chain record; run \`deno task signer reconcile\`\n`,
    );
    return 1;
  }
}

async function reconcile(ctx: Ctx): Promise<number> {
  const { out, err, recorder } = ctx;
  const pending = await ctx.pending.list();
  if (pending.length === 0) {
    await out.write("nothing pending: the chain has every local epoch change\n");
    return 0;
  }
  if (!recorder) {
    for (const p of pending) await out.write(`pending: ${pendingText(p)}\n`);
    await err.write("signer: no chain recorder is configured; nothing was recorded\n");
    return 1;
  }
  let unresolved = 0;
  for (const p of pending) {
    try {
      if (p.kind === "advance_epoch") {
        if (!recorder.currentEpoch) {
          // Without the chain's view a retry could advance the counter twice.
          await err.write(
            `signer: cannot reconcile ${pendingText(p)}: the recorder has no ` +
              `currentEpoch(); check K3EpochCounter by hand\n`,
          );
          unresolved++;
          continue;
        }
        let chain = await recorder.currentEpoch();
        while (chain < p.epoch) chain = (await recorder.advanceEpoch()).epoch;
        const active = ctx.h.keystore.activeEpoch;
        if (chain > active) {
          // The counter ran ahead of the keys: only a person can decide which one is right.
          await err.write(
            `signer: the chain counter is at ${chain} but the keystore's active epoch is ` +
              `${active}: fix by hand\n`,
          );
          unresolved++;
          continue;
        }
      } else {
        await recorder.recordEpochDestroyed(p.epoch);
      }
      await ctx.pending.remove(p);
      await ctx.audit.append("chain_reconciled", { kind: p.kind, epoch: p.epoch });
      await out.write(`recorded: ${p.kind} ${p.epoch}\n`);
    } catch (e) {
      unresolved++;
      await err.write(`signer: ${pendingText(p)} still not recorded: ${(e as Error).message}\n`);
    }
  }
  return unresolved === 0 ? 0 : 1;
}

async function auditVerify(ctx: Ctx): Promise<number> {
  const result = await ctx.audit.verify();
  if (result.ok) {
    await ctx.out.write(`audit log ok: ${result.count} entries, head ${result.head}\n`);
    return 0;
  }
  await ctx.err.write(
    `signer: audit log BROKEN at entry ${result.brokenAt?.seq}: ${result.brokenAt?.reason} ` +
      `(${result.count} entries verified before it)\n`,
  );
  return 1;
}

function countsText(census: Census): string {
  const counts = census.global ?? {};
  const keys = Object.keys(counts).sort((a, b) => (Number(a) || 1e18) - (Number(b) || 1e18));
  return keys.length === 0
    ? "no blobs"
    : keys.map((k) => `${/^\d+$/.test(k) ? `epoch ${k}` : k}: ${counts[k]}`).join(", ");
}

function pendingText(p: PendingChainRecord): string {
  return `${p.kind} epoch ${p.epoch} (${p.reason}${p.error ? `: ${p.error}` : ""}, since ${p.at})`;
}

function textOut(stream: { write(p: Uint8Array): Promise<number> }): TextOut {
  const encoder = new TextEncoder();
  return {
    async write(text: string) {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += await stream.write(bytes.subarray(written));
    },
  };
}
