/**
 * `deno task migrate-legacy`: moves credentials written by the reference implementation (the
 * wallet-keyed layout, issue 13) into AgentKeys, in-process on the data directory next to a
 * running service (reaching its chain like `deno task reencrypt`).
 *
 * ```text
 * deno task migrate-legacy --operator 0xADDRESS --legacy-signer-key FILE
 *     [--map 0xWALLET=<agent label>]... [--source-bucket B] [--source-endpoint URL]
 *     [--dry-run] [--delete-legacy] [--json]
 * ```
 *
 * One line per legacy blob (`<outcome> <key> -> <actor>/<service> [reason] [deleted]`, or JSON
 * lines), then a summary. Exit codes: 0 every blob migrated or already there, 1 some failed or
 * conflict, 2 usage error (bad flags, a key file others can read, an unknown agent label), 75 the
 * store credentials expired (re-run to continue).
 *
 * @module
 */

import { privateKeyToAccount } from "viem/accounts";
import { AgentKeysClient, ApiCallError } from "../client/mod.ts";
import {
  type Config,
  ConfigError,
  insecureServiceUrl,
  loadCliConfig,
  loadConfig,
  loadLegacySource,
} from "../config/mod.ts";
import type { Headless, HeadlessOptions } from "../epochs/mod.ts";
import {
  headlessMigrateDeps,
  InvalidMigrateParams,
  type LegacySigner,
  type MigrateBlobEvent,
  type MigrateDeps,
  type MigrateSummary,
  openLegacySource,
  runMigration,
} from "../migrate/mod.ts";
import { EXIT, parseFlags, type TextOut, textOut, UsageError } from "./_args.ts";
import { loadSession } from "./_session_file.ts";

export const MIGRATE_USAGE =
  `usage: deno task migrate-legacy --operator 0xADDRESS --legacy-signer-key FILE
          [--map 0xWALLET=<agent label>]... [--source-bucket B] [--source-endpoint URL]
          [--dry-run] [--delete-legacy] [--json] [--url URL]

Moves credentials of the reference implementation's wallet-keyed layout into AgentKeys.
  --operator           the operator's wallet address (its own legacy credentials move to it)
  --legacy-signer-key  file with the legacy signer's private key (0x + 64 hex; mode 0600)
  --map                an agent wallet and the label of a live agent this operator registered
  --source-bucket      read legacy blobs from this S3 bucket (default: the vault store itself;
                       also AGENTKEYS_LEGACY_S3_BUCKET, _ENDPOINT, _REGION, _ACCESS_KEY_ID, ...)
  --source-endpoint    that bucket's S3 endpoint
  --dry-run            decrypt and report, write and delete nothing
  --delete-legacy      delete each legacy object after its new copy was read back and verified
  --json               one JSON object per line
  --url                run as a job of the service at URL (session: AGENTKEYS_SESSION, or
                       deno task cli login); the source is then the service's own
                       (AGENTKEYS_LEGACY_S3_* of the service, else its vault store)
exit codes: 0 ok, 1 some blobs failed or conflict, 2 usage error, 75 store credentials expired
(re-run to continue)`;

export interface MigrateCliDeps {
  env: Record<string, string | undefined>;
  fetch?: typeof fetch;
  stdout?: TextOut;
  stderr?: TextOut;
  /** Opens the data directory (the script passes `openHeadlessWithChain`). */
  openHeadless: (config: Config, options?: HeadlessOptions) => Promise<Headless>;
  /** Tests replace the dependencies the engine gets (e.g. a faulty source store). */
  wrapDeps?: (deps: MigrateDeps) => MigrateDeps;
}

/** Reads the signer key file, refusing one others can read (exit 2). */
export async function readSignerKey(path: string): Promise<LegacySigner> {
  return privateKeyToAccount(await readSignerKeyHex(path));
}

async function readSignerKeyHex(path: string): Promise<`0x${string}`> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    throw new UsageError(`--legacy-signer-key ${path} cannot be read`);
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw new UsageError(
      `${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`,
    );
  }
  const text = (await Deno.readTextFile(path)).trim();
  if (!/^0x[0-9a-fA-F]{64}$/.test(text)) {
    throw new UsageError(`${path} must hold a private key: 0x + 64 hex`);
  }
  try {
    privateKeyToAccount(text as `0x${string}`);
  } catch {
    // 0 or not below the curve order: viem's own message would print the key as a number.
    throw new UsageError(`${path} holds no valid secp256k1 private key`);
  }
  return text as `0x${string}`;
}

/**
 * Runs the command; resolves with the exit code.
 *
 * ```ts
 * await main(["--operator", addr, "--legacy-signer-key", "legacy.key"], { env, openHeadless });
 * ```
 */
export async function main(args: string[], deps: MigrateCliDeps): Promise<number> {
  const out = deps.stdout ?? textOut(Deno.stdout);
  const err = deps.stderr ?? textOut(Deno.stderr);
  try {
    const parsed = parseFlags(args, {
      operator: { type: "string" },
      "legacy-signer-key": { type: "string" },
      map: { type: "string", multiple: true },
      "source-bucket": { type: "string" },
      "source-endpoint": { type: "string" },
      "dry-run": { type: "boolean" },
      "delete-legacy": { type: "boolean" },
      json: { type: "boolean" },
      url: { type: "string" },
    });
    if (parsed.help) {
      await out.write(MIGRATE_USAGE + "\n");
      return EXIT.ok;
    }
    const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
    if (typeof v.operator !== "string") throw new UsageError("--operator is required");
    if (typeof v["legacy-signer-key"] !== "string") {
      throw new UsageError("--legacy-signer-key is required");
    }
    const map: Record<string, string> = {};
    for (const entry of (v.map as string[] | undefined) ?? []) {
      const m = /^(0x[0-9a-fA-F]{40})=([^=]+)$/.exec(entry);
      if (!m) throw new UsageError(`--map ${entry}: expected 0xWALLET=<agent label>`);
      map[m[1].toLowerCase()] = m[2];
    }
    if (v["dry-run"] === true && v["delete-legacy"] === true) {
      throw new UsageError("--dry-run deletes nothing; drop --delete-legacy");
    }
    const json = v.json === true;
    const print = (e: MigrateBlobEvent) => out.write(json ? JSON.stringify(e) + "\n" : line(e));
    let summary: MigrateSummary;
    if (typeof v.url === "string") {
      if (v["source-bucket"] !== undefined || v["source-endpoint"] !== undefined) {
        throw new UsageError("with --url the source is the service's own; drop --source-*");
      }
      summary = await remote(
        v.url,
        deps,
        {
          operator: v.operator,
          legacy_signer_key: await readSignerKeyHex(v["legacy-signer-key"]),
          map,
          dry_run: v["dry-run"] === true,
          delete_legacy: v["delete-legacy"] === true,
        },
        print,
        err,
      );
    } else {
      summary = await inProcess(v, map, deps, print);
    }
    return await finish(summary, json, out, err);
  } catch (e) {
    if (e instanceof UsageError || e instanceof InvalidMigrateParams || e instanceof ConfigError) {
      await err.write(`migrate-legacy: ${e.message}\n${MIGRATE_USAGE}\n`);
      return EXIT.usage;
    }
    if (e instanceof ApiCallError) {
      await err.write(`migrate-legacy: ${e.message}\n`);
      if (e.status === 401) return EXIT.expired;
      return e.status === 400 ? EXIT.usage : EXIT.failed;
    }
    if ((e as { code?: string }).code === "credentials_expired") {
      await err.write("migrate-legacy: store credentials expired; re-run with fresh ones\n");
      return EXIT.expired;
    }
    await err.write(`migrate-legacy: ${(e as Error).message}\n`);
    return EXIT.failed;
  }
}

/** Starts the job on the service and prints its events until `end`. */
async function remote(
  url: string,
  deps: MigrateCliDeps,
  body: Record<string, unknown>,
  print: (e: MigrateBlobEvent) => Promise<void>,
  err: TextOut,
): Promise<MigrateSummary> {
  const cli = loadCliConfig(deps.env);
  // Before anything is sent: the legacy signer key and the session must not cross the network
  // in clear.
  const insecure = insecureServiceUrl(url, cli.allowHttp ?? false);
  if (insecure) throw new UsageError(`--url: ${insecure}`);
  let token = cli.session;
  if (!token) {
    const saved = await loadSession(cli.home).catch(() => undefined);
    if (saved && new URL(saved.url).origin === new URL(url).origin) token = saved.session_jwt;
  }
  if (!token) {
    throw new UsageError(
      "--url needs an operator session: AGENTKEYS_SESSION, or `deno task cli login` to that URL",
    );
  }
  const api = new AgentKeysClient(url, token, { fetch: deps.fetch });
  const job = await api.call<{ job_id: string }>("POST", "/v1/migrate/jobs", body);
  await err.write(`job ${job.job_id} started on ${url}\n`);
  let summary: MigrateSummary | undefined;
  for await (const e of api.followJob(job.job_id, { jobs: "migrate" })) {
    if (e.event === "blob") await print(e.data as unknown as MigrateBlobEvent);
    if (e.event === "summary") summary = e.data as unknown as MigrateSummary;
  }
  if (!summary) throw new Error("the job ended without a summary (see the service log)");
  return summary;
}

/** Runs on the data directory in this process. */
async function inProcess(
  v: Record<string, string | boolean | string[] | undefined>,
  map: Record<string, string>,
  deps: MigrateCliDeps,
  print: (e: MigrateBlobEvent) => Promise<void>,
): Promise<MigrateSummary> {
  let h: Headless | undefined;
  try {
    const signer = await readSignerKey(v["legacy-signer-key"] as string);
    const sourceConfig = loadLegacySource(deps.env, {
      bucket: v["source-bucket"] as string | undefined,
      endpoint: v["source-endpoint"] as string | undefined,
    });
    const config = loadConfig(deps.env);
    h = await deps.openHeadless(config);
    // The vault's own bucket named as the source is a migration in place (one store object, so
    // the collision is recognised and moved behind its backup).
    const sameBucket = sourceConfig !== undefined && config.s3 !== undefined &&
      sourceConfig.bucket === config.s3.bucket &&
      (sourceConfig.endpoint ?? "") === (config.s3.endpoint ?? "");
    const source = sameBucket ? undefined : await openLegacySource(sourceConfig);
    let engineDeps = headlessMigrateDeps(h, signer, source, (m) => console.warn(m));
    if (deps.wrapDeps) engineDeps = deps.wrapDeps(engineDeps);
    return await runMigration(engineDeps, {
      operator: v.operator as string,
      map,
      dryRun: v["dry-run"] === true,
      deleteLegacy: v["delete-legacy"] === true,
    }, print);
  } finally {
    await h?.close();
  }
}

/** Prints the summary; the exit code. */
async function finish(
  summary: MigrateSummary,
  json: boolean,
  out: TextOut,
  err: TextOut,
): Promise<number> {
  await out.write(
    json ? JSON.stringify({ summary }) + "\n" : `summary: ${
      [
        `${summary.migrated} migrated`,
        `${summary.would_migrate} would migrate`,
        `${summary.skipped} skipped`,
        `${summary.conflict} conflict`,
        `${summary.failed} failed`,
        `${summary.deleted} legacy deleted`,
      ].join(", ")
    } (${summary.state})\n`,
  );
  if (summary.state === "aborted") {
    await err.write(`migrate-legacy: ${summary.error}\n`);
    return EXIT.expired;
  }
  return summary.failed > 0 || summary.conflict > 0 ? EXIT.failed : EXIT.ok;
}

function line(e: MigrateBlobEvent): string {
  const to = e.actor_omni === null ? "" : ` -> ${e.actor_omni}/${e.service}`;
  const why = e.reason === undefined ? "" : ` [${e.reason}]`;
  return `${e.outcome} ${e.key}${to}${why}${e.deleted ? " (legacy deleted)" : ""}\n`;
}
