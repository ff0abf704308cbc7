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
 * deno task signer reseal [--new-seal-key-file F]  move the keystore and keyrings to a new seal key
 * ```
 *
 * **reseal.** On the embedded default (`seal.key` in the data directory) it replaces `seal.key`
 * by a fresh key, as every destruction already does. With `AGENTKEYS_SEAL_KEY` (the old key) it
 * moves every sealed file to the key in `--new-seal-key-file F`: a file (never an argument or an
 * environment variable, so the key stays out of `ps`, shell history and CI logs) holding 64 hex
 * characters, readable by its owner only (mode 0600, else exit 2); when F does not exist a fresh
 * key is generated into it (0600). A wrong old key is refused (exit 1) before anything is
 * written; a re-run after an interruption finishes the job. Stop the service first: it holds
 * the old key. The output says what to set next; the key itself is never printed.
 *
 * **drop-old-k3** takes a fresh global census (unless `--use-latest-census`), then destroys the
 * epoch through `censusDestroyGuard`: it refuses (exit 1, with the counts) unless that census
 * started after the last write under the epoch and counted zero blobs. `--force` skips the guard;
 * it is written to the audit log as `epoch_destroy_forced` *before* the key is erased, and
 * warned about on stderr.
 *
 * The operations themselves are {@linkcode EpochAdmin}'s (shared with the HTTP routes); this
 * file only parses flags and turns results into text and exit codes.
 *
 * **Chain records.** Every rotation and destruction is meant to be recorded on chain through an
 * {@linkcode EpochRecorder}: `deps.recorder`, else the headless chain link's (`scripts/signer.ts`
 * connects the running service's embedded anvil or the external chain, see
 * `lib/service/_headless.ts`). Without one, nothing is recorded on chain and the output says why.
 * When the recorder is missing or fails after the keystore changed, the gap is stored as a
 * pending chain record (KV and audit log); `deno task signer reconcile` records pending changes
 * once a recorder is available (for rotations it needs `currentEpoch()` so it never advances the
 * counter twice). Until then, `deno task signer epochs` lists them.
 *
 * Exit codes: 0 done, 1 refused or not fully recorded, 2 usage error.
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";
import { type Config, ConfigError, loadConfig } from "../config/mod.ts";
import {
  type AuditLog,
  type Census,
  KvPointerStore,
  type PendingChainRecord,
} from "../state/mod.ts";
import {
  type EpochAdmin,
  EpochInUse,
  EpochNotFound,
  EpochNotRetiring,
  type EpochRecorder,
  type Headless,
  type HeadlessChain,
  type HeadlessOptions,
  openHeadless,
} from "../epochs/mod.ts";
import { isExpiry } from "../reencrypt/mod.ts";
import { EXIT, parseFlags, type TextOut, textOut, UsageError } from "./_args.ts";
import { resealDataDir } from "../datadir/mod.ts";
import { KeystoreError, parseKey } from "../signer/mod.ts";

/** Each command's usage line(s), in the order the general usage lists them. */
const COMMANDS: Record<string, string> = {
  epochs:
    `epochs                                  list epochs, the latest census, pending chain records`,
  rotate:
    `rotate                                  activate the next epoch; the active one starts retiring`,
  census: `census                                  count blobs per epoch over the whole store`,
  "drop-old-k3": `drop-old-k3 --epoch N [--force] [--use-latest-census]
                                          erase a retiring epoch's key once a census proves it empty`,
  reconcile: `reconcile                               record pending epoch changes on chain`,
  "audit-verify": `audit-verify                            check the audit log's hash chain and its
                                          latest anchor on chain (truncation, rewriting)`,
  "integrity-ack":
    `integrity-ack                           accept the chain's anchors as the base after a detected
                                          state store rollback; writes resume (audited)`,
  reseal: `reseal [--new-seal-key-file F]          move the keystore and keyrings to a new seal key
                                          (F: 0600, 64 hex; created when missing; required
                                          with AGENTKEYS_SEAL_KEY)`,
};

const EXIT_CODES =
  "exit codes: 0 done, 1 refused or not fully recorded, 2 usage error, 75 credentials expired";

export const SIGNER_USAGE = `usage: deno task signer <command>
${Object.values(COMMANDS).map((u) => `  ${u}`).join("\n")}
  <command> --help                        that command's usage
${EXIT_CODES}`;

/** The usage of one command (`deno task signer rotate --help`). */
function commandUsage(command: string): string {
  return `usage: deno task signer ${COMMANDS[command]}\n${EXIT_CODES}`;
}

/** What {@linkcode signerMain} may be given instead of the real process environment. */
export interface SignerCliDeps {
  env: Record<string, string | undefined>;
  stdout?: TextOut;
  stderr?: TextOut;
  openHeadless?: (config: Config, options?: HeadlessOptions) => Promise<Headless>;
  /** Records epoch changes on chain; absent: nothing is recorded on chain (and it says so). */
  recorder?: EpochRecorder;
  /** Replaces the headless KV audit log. */
  audit?: AuditLog;
}

function notRecorded(reason: string): string {
  return `NOT recorded on chain: ${reason}; saved as a pending chain record for ` +
    "`deno task signer reconcile`";
}

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
  let flags: { epoch?: number; force: boolean; useLatest: boolean; newKeyFile?: string };
  try {
    ({ command, flags } = parse(args));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    await err.write(`signer: ${e.message}\n${SIGNER_USAGE}\n`);
    return EXIT.usage;
  }
  if (command === "help") {
    await out.write(SIGNER_USAGE + "\n");
    return EXIT.ok;
  }
  if (command.startsWith("help ")) {
    await out.write(commandUsage(command.slice(5)) + "\n");
    return EXIT.ok;
  }
  if (command === "reseal") return await reseal(deps.env, flags.newKeyFile, out, err);
  let headless: Headless;
  try {
    headless = await (deps.openHeadless ?? openHeadless)(loadConfig(deps.env), {
      recorder: deps.recorder,
      audit: deps.audit,
    });
  } catch (e) {
    await err.write(`signer: ${(e as Error).message}\n`);
    return e instanceof ConfigError ? EXIT.usage : EXIT.failed;
  }
  const ctx: Ctx = {
    out,
    err,
    audit: headless.audit,
    admin: headless.admin,
    chain: headless.chain,
    kv: headless.state.kv,
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
      case "integrity-ack":
        return await integrityAck(ctx, deps.env.USER ?? "signer cli");
      default: // "audit-verify"
        return await auditVerify(ctx);
    }
  } catch (e) {
    await err.write(`signer: ${(e as Error).message}\n`);
    return isExpiry(e) ? EXIT.expired : EXIT.failed;
  } finally {
    await headless.close();
  }
}

interface Ctx {
  out: TextOut;
  err: TextOut;
  audit: AuditLog;
  admin: EpochAdmin;
  chain?: HeadlessChain;
  kv: Deno.Kv;
}

function parse(args: string[]) {
  const parsed = parseFlags(args, {
    epoch: { type: "string" },
    force: { type: "boolean" },
    "use-latest-census": { type: "boolean" },
    "new-seal-key-file": { type: "string" },
  }, { positionals: true });
  const values = parsed.values as {
    epoch?: string;
    force?: boolean;
    "use-latest-census"?: boolean;
    "new-seal-key-file"?: string;
  };
  const positionals = parsed.positionals;
  if (parsed.help) {
    const named = positionals[0];
    return {
      command: named !== undefined && Object.hasOwn(COMMANDS, named) ? `help ${named}` : "help",
      flags: { force: false, useLatest: false },
    };
  }
  if (positionals.length !== 1 || !Object.hasOwn(COMMANDS, positionals[0])) {
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
    newKeyFile: values["new-seal-key-file"],
  };
  if (command !== "reseal" && flags.newKeyFile !== undefined) {
    throw new UsageError(`${command} takes no --new-seal-key-file`);
  }
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
  const { admin, out } = ctx;
  const view = await admin.overview();
  const lines = view.epochs.map((e) =>
    `epoch ${e.epoch} ${e.state} created ${e.createdAt}` +
    (e.retiredAt ? ` retired ${e.retiredAt}` : "") +
    (e.destroyedAt ? ` destroyed ${e.destroyedAt}` : "")
  );
  const latest = view.latestGlobal;
  lines.push(
    latest ? `census ${latest.taken_at}: ${countsText(latest)}` : "census: none taken yet",
  );
  for (const p of view.pending) lines.push(`pending chain record: ${pendingText(p)}`);
  await out.write(lines.join("\n") + "\n");
  return EXIT.ok;
}

async function rotate(ctx: Ctx): Promise<number> {
  const { admin, out, err } = ctx;
  const { active, previous, chain } = await admin.rotate();
  await out.write(`epoch ${active} is active; epoch ${previous} is retiring\n`);
  switch (chain.status) {
    case "not_recorded":
      await out.write(`${notRecorded(chain.reason)}\n`);
      return EXIT.ok;
    case "recorded":
      await out.write(`recorded on chain: advanceEpoch tx ${chain.txHash}\n`);
      return EXIT.ok;
    case "mismatch":
      await err.write(
        `signer: MISMATCH: the keystore activated epoch ${active} but the chain counter is now ` +
          `${chain.chainEpoch} (tx ${chain.txHash}); recorded as pending — reconcile the counter ` +
          `and the keystore\n`,
      );
      return EXIT.failed;
    case "failed":
      await err.write(
        `signer: the keystore rotated to epoch ${active}, but recording it on chain FAILED: ` +
          `${chain.error}\n` +
          `signer: saved as a pending chain record; run \`deno task signer reconcile\` when the ` +
          `chain is reachable\n`,
      );
      return EXIT.failed;
  }
}

async function census(ctx: Ctx): Promise<number> {
  const taken = await ctx.admin.census();
  await ctx.out.write(`census ${taken.taken_at}: ${countsText(taken)}\n`);
  return EXIT.ok;
}

async function dropOldK3(
  ctx: Ctx,
  epoch: number,
  force: boolean,
  useLatest: boolean,
): Promise<number> {
  const { admin, out, err } = ctx;
  try {
    await admin.checkDestroyable(epoch);
    if (!force && !useLatest) {
      await out.write(`taking a census of the whole store…\n`);
      const latest = await admin.census();
      await out.write(`census ${latest.taken_at}: ${countsText(latest)}\n`);
    }
    const result = await admin.destroy(epoch, {
      force,
      onForce: async ({ census, count }) => {
        await err.write(
          `signer: WARNING: --force destroys epoch ${epoch} WITHOUT the census check ` +
            `(latest census: ${
              census ? `${census.taken_at}, ${count ?? 0} blob(s) under it` : "none"
            }); ` +
            `any blob still under it becomes unreadable forever; this is recorded in the audit ` +
            `log\n`,
        );
      },
    });
    await out.write(
      `epoch ${epoch} destroyed at ${result.destroyedAt}${force ? " (FORCED)" : ""}\n`,
    );
    if (result.sealKey === "rotated") {
      await out.write("the keystore and broker keys moved to a fresh seal.key\n");
    }
    if (result.warning) await err.write(`signer: WARNING: ${result.warning}\n`);
    switch (result.chain.status) {
      case "not_recorded":
        await out.write(`${notRecorded(result.chain.reason)}\n`);
        return EXIT.ok;
      case "recorded":
        await out.write(`recorded on chain: recordEpochDestroyed tx ${result.chain.txHash}\n`);
        return EXIT.ok;
      default: {
        const error = result.chain.status === "failed" ? result.chain.error : "unexpected answer";
        await err.write(
          `signer: epoch ${epoch} is destroyed, but recording it on chain FAILED: ${error}\n` +
            `signer: saved as a pending chain record; run \`deno task signer reconcile\`\n`,
        );
        return EXIT.failed;
      }
    }
  } catch (e) {
    if (e instanceof EpochNotFound) {
      await err.write(`signer: ${e.message}\n`);
      return EXIT.usage;
    }
    if (e instanceof EpochNotRetiring) {
      await err.write(`signer: ${e.message}\n`);
      return e.state === "active" ? EXIT.usage : EXIT.failed;
    }
    if (e instanceof EpochInUse) {
      await err.write(
        `signer: refused: ${e.message}\n` +
          `signer: counts: ${e.census ? JSON.stringify(e.census.global) : "(no census)"}\n`,
      );
      return EXIT.failed;
    }
    throw e;
  }
}

async function reconcile(ctx: Ctx): Promise<number> {
  const { admin, out, err } = ctx;
  const result = await admin.reconcile();
  if (result.pending.length === 0) {
    await out.write("nothing pending: the chain has every local epoch change\n");
    return EXIT.ok;
  }
  if (!result.attempted) {
    for (const p of result.pending) await out.write(`pending: ${pendingText(p)}\n`);
    const why = admin.chainRecording.enabled ? "" : ` (${admin.chainRecording.reason})`;
    await err.write(`signer: no chain recorder is configured${why}; nothing was recorded\n`);
    return EXIT.failed;
  }
  let unresolved = 0;
  for (const item of result.items) {
    const p = item.record;
    switch (item.outcome) {
      case "recorded":
        await out.write(`recorded: ${p.kind} ${p.epoch}\n`);
        continue;
      case "no_current_epoch":
        await err.write(
          `signer: cannot reconcile ${pendingText(p)}: the recorder has no ` +
            `currentEpoch(); check K3EpochCounter by hand\n`,
        );
        break;
      case "chain_ahead":
        await err.write(
          `signer: the chain counter is at ${item.chainEpoch} but the keystore's active epoch ` +
            `is ${item.active}: fix by hand\n`,
        );
        break;
      case "failed":
        await err.write(`signer: ${pendingText(p)} still not recorded: ${item.error}\n`);
        break;
    }
    unresolved++;
  }
  return unresolved === 0 ? EXIT.ok : EXIT.failed;
}

async function auditVerify(ctx: Ctx): Promise<number> {
  const result = await ctx.audit.verify();
  if (result.ok) {
    await ctx.out.write(`audit log ok: ${result.count} entries, head ${result.head}\n`);
    return await auditAgainstAnchor(ctx, result.count);
  }
  await ctx.err.write(
    `signer: audit log BROKEN at entry ${result.brokenAt?.seq}: ${result.brokenAt?.reason} ` +
      `(${result.count} entries verified before it)\n`,
  );
  return EXIT.failed;
}

/**
 * The local log against the latest `AuditAnchor` on chain: the anchored entry must exist and
 * hash to the anchored head. A log truncated below the anchor, or rewritten, fails and names
 * the entry. Without a reachable chain it says so (exit 0: the local chain itself verified).
 */
async function auditAgainstAnchor(ctx: Ctx, count: number): Promise<number> {
  const anchors = ctx.chain?.anchors;
  if (!anchors) {
    await ctx.out.write(
      `not checked against the chain: ${ctx.chain?.reason ?? "no chain is configured"}\n`,
    );
    return EXIT.ok;
  }
  const anchored = await anchors.latestAnchor();
  if (anchored.count === 0) {
    await ctx.out.write("no audit anchor on chain yet\n");
    return EXIT.ok;
  }
  const entry = (await ctx.kv.get<{ hash: string }>(["audit", "entry", anchored.count])).value;
  if (entry === null) {
    await ctx.err.write(
      `signer: audit log TRUNCATED: entry ${anchored.count} is anchored on chain (head ` +
        `${anchored.head}) but the log ends at entry ${count}\n`,
    );
    return EXIT.failed;
  }
  if (`0x${entry.hash}` !== anchored.head.toLowerCase()) {
    await ctx.err.write(
      `signer: audit log REWRITTEN: entry ${anchored.count} hashes to 0x${entry.hash}, the chain ` +
        `anchored ${anchored.head}\n`,
    );
    return EXIT.failed;
  }
  await ctx.out.write(
    `matches the chain's latest anchor: entry ${anchored.count}, head ${anchored.head}\n`,
  );
  return EXIT.ok;
}

/** `integrity-ack`: lifts the write block a detected state store rollback set (audited). */
async function integrityAck(ctx: Ctx, by: string): Promise<number> {
  const pointers = new KvPointerStore(ctx.kv);
  const block = await pointers.blocked();
  if (!block) {
    await ctx.out.write("nothing to acknowledge: writes are not blocked\n");
    return EXIT.ok;
  }
  await ctx.out.write(`acknowledging: ${block.reason} (detected ${block.at})\n`);
  await pointers.unblock(by);
  await ctx.out.write(
    `writes resume (a running service sees it within a second); the chain's anchors ` +
      `(change ${block.chain_seq}, audit entry ${block.chain_audit_count}) are the new base\n`,
  );
  return EXIT.ok;
}

/** `reseal`: see the module doc. */
async function reseal(
  env: Record<string, string | undefined>,
  newKeyFile: string | undefined,
  out: TextOut,
  err: TextOut,
): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (e) {
    await err.write(`signer: ${(e as Error).message}\n`);
    return EXIT.usage;
  }
  const supplied = config.sealKey !== undefined;
  if (supplied && newKeyFile === undefined) {
    await err.write(
      "signer: the seal key comes from AGENTKEYS_SEAL_KEY: give the new one with " +
        "--new-seal-key-file F\n" + SIGNER_USAGE + "\n",
    );
    return EXIT.usage;
  }
  if (!supplied && newKeyFile !== undefined) {
    await err.write(
      "signer: the embedded seal.key is replaced by a generated key; --new-seal-key-file is " +
        "only for AGENTKEYS_SEAL_KEY\n",
    );
    return EXIT.usage;
  }
  let newKey: Uint8Array | undefined;
  let generated = false;
  if (newKeyFile !== undefined) {
    try {
      ({ key: newKey, generated } = await readNewKeyFile(newKeyFile));
    } catch (e) {
      await err.write(`signer: ${(e as Error).message}\n`);
      return EXIT.usage;
    }
    if (timingSafeEqual(newKey, config.sealKey!)) {
      await err.write("signer: the new seal key is the current one; nothing to do\n");
      return EXIT.usage;
    }
  }
  try {
    const r = await resealDataDir(config, { newKey });
    newKey?.fill(0);
    if (r.mode === "rotated") {
      await out.write(
        `moved ${r.resealed.length} sealed file(s) to a fresh seal key; seal.key was replaced ` +
          "and the old key's bytes overwritten. A running service picks the new key up by " +
          "itself.\n",
      );
      return EXIT.ok;
    }
    await out.write(
      (generated ? `generated a new seal key into ${newKeyFile} (0600)\n` : "") +
        `moved ${r.resealed.length} sealed file(s) to the new seal key` +
        (r.already.length ? ` (${r.already.length} already were)` : "") + ".\n" +
        `Next: set AGENTKEYS_SEAL_KEY to the contents of ${newKeyFile} for every process on ` +
        "this data directory (service, signer, reencrypt) and restart the service; then " +
        `delete ${newKeyFile} and retire the old key everywhere it is kept (secret stores, ` +
        "backups of the environment): only then does a keystore backup taken before a " +
        "destruction stop opening the destroyed epochs.\n",
    );
    return EXIT.ok;
  } catch (e) {
    await err.write(`signer: ${(e as Error).message}\n`);
    return e instanceof KeystoreError && e.code !== "keystore_unseal_failed"
      ? EXIT.usage
      : EXIT.failed;
  }
}

/** Reads (or creates, 0600) the new seal key file; refuses group/other access. */
async function readNewKeyFile(path: string): Promise<{ key: Uint8Array; generated: boolean }> {
  let text: string;
  let generated = false;
  try {
    const info = await Deno.stat(path);
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      throw new Error(
        `${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    const key = crypto.getRandomValues(new Uint8Array(32));
    await Deno.writeTextFile(path, key.toHex() + "\n", { createNew: true, mode: 0o600 });
    key.fill(0);
    text = await Deno.readTextFile(path);
    generated = true;
  }
  return { key: parseKey(text, path), generated };
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
