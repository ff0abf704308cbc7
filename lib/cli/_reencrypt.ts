/**
 * `deno task reencrypt`: the headless re-encryption command (API.md, "Command line").
 *
 * ```text
 * deno task reencrypt --operator-omni 0x<64hex> --old-epoch N --new-epoch M
 *                     [--dry-run] [--concurrency K] [--classes a,b] [--json] [--url URL]
 * ```
 *
 * In-process by default: it opens the configured store, keystore and KV state
 * ({@linkcode openHeadless}) and runs the engine as a persisted job, so the run shows up in the
 * console's job list and holds the operator's one-job lock like a console run would. With
 * `--url` it starts the job on a running service instead and follows its event stream, with the
 * session token from `AGENTKEYS_SESSION`.
 *
 * Output: one line per blob on stdout (`<outcome> <key> epoch <from> -> <to> <ms>ms [reason]`,
 * or JSON lines with `--json`), a progress line on stderr only when stderr is a terminal, and a
 * final summary line. Exit codes: {@linkcode EXIT}.
 *
 * @module
 */

import {
  type Config,
  ConfigError,
  insecureServiceUrl,
  loadCliConfig,
  loadConfig,
} from "../config/mod.ts";
import { AgentKeysClient, ApiCallError } from "../client/mod.ts";
import { type Headless, type HeadlessOptions, openHeadless } from "../epochs/mod.ts";
import {
  type BlobEvent,
  epochAfter,
  InvalidReencryptParams,
  isExpiry,
  type JobEvent,
  JobNotFound,
  type JobRequest,
  JobRunning,
  MAX_CONCURRENCY,
  type ProgressEvent,
  ReencryptError,
  type RunState,
  SessionExpired,
  type SummaryEvent,
} from "../reencrypt/mod.ts";
import { EXIT, parseFlags, type TextOut, textOut, UsageError } from "./_args.ts";
import { loadSession } from "./_session_file.ts";

export const USAGE =
  `usage: deno task reencrypt --operator-omni 0x<64hex> --old-epoch N --new-epoch M
                        [--dry-run] [--concurrency K] [--classes credentials,memory,inbound,keyring]
                        [--json] [--url URL]

Moves every blob of the operator's actors from K3 epoch N (retiring) to M (active).
  --operator-omni   the operator (0x + 64 hex); "all" scans every actor in the store
  --dry-run         classify only (reads one byte per blob), write nothing
  --concurrency     blobs in flight at once (1..${MAX_CONCURRENCY}, default 16)
  --classes         data classes to scan (default all four)
  --json            one JSON object per line instead of text
  --url             run on a service at URL (session: AGENTKEYS_SESSION, or deno task cli login)
  -h, --help        this text
exit codes: 0 ok, 1 some blobs failed, 2 usage error, 75 credentials/session expired (re-run to
continue), 130 cancelled`;

/** What {@linkcode main} may be given instead of the real process environment. */
export interface ReencryptCliDeps {
  /** The environment (`Deno.env.toObject()` in the script). */
  env: Record<string, string | undefined>;
  stdout?: TextOut;
  stderr?: TextOut;
  /** Whether stderr is a terminal (progress line). Default `Deno.stderr.isTerminal()`. */
  stderrIsTerminal?: boolean;
  /** Builds the in-process components (tests inject faulty stores here). */
  openHeadless?: (config: Config, options?: HeadlessOptions) => Promise<Headless>;
  fetch?: typeof fetch;
  /** Aborting it (Ctrl-C) cancels the job. */
  signal?: AbortSignal;
}

interface CliOptions {
  request: JobRequest;
  json: boolean;
  url?: string;
}

/**
 * Runs the command and resolves with its exit code; never calls `Deno.exit`.
 *
 * ```ts
 * const code = await main(["--operator-omni", omni, "--old-epoch", "1", "--new-epoch", "2"], {
 *   env: Deno.env.toObject(),
 * });
 * ```
 */
export async function main(args: string[], deps: ReencryptCliDeps): Promise<number> {
  const stdout = deps.stdout ?? textOut(Deno.stdout);
  const stderr = deps.stderr ?? textOut(Deno.stderr);
  let options: CliOptions;
  try {
    const parsed = parseOptions(args);
    if (parsed === "help") {
      await stdout.write(USAGE + "\n");
      return EXIT.ok;
    }
    options = parsed;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    await stderr.write(`reencrypt: ${err.message}\n${USAGE}\n`);
    return EXIT.usage;
  }
  const render = new Renderer(
    stdout,
    stderr,
    options.json,
    deps.stderrIsTerminal ?? Deno.stderr.isTerminal(),
    options.request.new_epoch,
  );
  try {
    return options.url === undefined
      ? await runInProcess(options, deps, render)
      : await runRemote(options, deps, render);
  } catch (err) {
    await render.flush();
    if (err instanceof InvalidReencryptParams) {
      await stderr.write(`reencrypt: ${err.message}\n${USAGE}\n`);
      return EXIT.usage;
    }
    if (err instanceof ConfigError) {
      await stderr.write(`reencrypt: configuration: ${err.message}\n`);
      return EXIT.usage;
    }
    if (isExpiry(err)) {
      await stderr.write(`reencrypt: ${(err as Error).message}\nre-run to continue\n`);
      return EXIT.expired;
    }
    if (err instanceof JobRunning) {
      await stderr.write(`reencrypt: ${err.message}; wait for it or cancel it\n`);
      return EXIT.failed;
    }
    if (err instanceof ReencryptError || err instanceof Error) {
      await stderr.write(`reencrypt: ${err.message}\n`);
      return EXIT.failed;
    }
    throw err;
  }
}

async function runInProcess(
  options: CliOptions,
  deps: ReencryptCliDeps,
  render: Renderer,
): Promise<number> {
  const config = loadConfig(deps.env);
  const headless = await (deps.openHeadless ?? openHeadless)(config);
  try {
    const job = await headless.runner.start(options.request);
    await render.note(`job ${job.job_id} started in-process (data dir ${config.dataDir})`);
    if (headless.chain && !headless.chain.agents) {
      await render.note(
        `reencrypt: agents come from the local index only (actors seen writing): ` +
          `${headless.chain.reason ?? "the chain is not reachable"}`,
      );
    }
    const onAbort = () => void headless.runner.cancel(job.job_id).catch(() => {});
    deps.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await render.follow(headless.runner.events(job.job_id));
    } finally {
      deps.signal?.removeEventListener("abort", onAbort);
    }
  } finally {
    await headless.close();
  }
}

async function runRemote(
  options: CliOptions,
  deps: ReencryptCliDeps,
  render: Renderer,
): Promise<number> {
  const cli = loadCliConfig(deps.env);
  // Before anything is sent: a session must not cross the network in clear.
  const insecure = insecureServiceUrl(options.url!, cli.allowHttp ?? false);
  if (insecure) throw new InvalidReencryptParams(`--url: ${insecure}`);
  const token = cli.session ?? await savedCliSession(deps.env, options.url!);
  if (!token) {
    throw new InvalidReencryptParams(
      "--url needs an operator session: AGENTKEYS_SESSION, or `deno task cli login` to that URL",
    );
  }
  const api = new AgentKeysClient(options.url!, token, { fetch: deps.fetch });
  const operator = options.request.operator_omni;
  const { job_id: jobId } = await api.startJob(options.request).catch(asJobError(operator));
  await render.note(`job ${jobId} started on ${options.url}`);
  const onAbort = () => void api.cancelJob(jobId).catch(() => {});
  deps.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await render.follow(followRemote(api, operator, jobId));
  } finally {
    deps.signal?.removeEventListener("abort", onAbort);
  }
}

async function* followRemote(
  api: AgentKeysClient,
  operator: string,
  jobId: string,
): AsyncGenerator<JobEvent> {
  try {
    yield* api.followJob(jobId);
  } catch (err) {
    asJobError(operator, jobId)(err);
  }
}

/**
 * The service's refusals as the errors an in-process run throws, so that both modes exit alike:
 * 400 → usage (2), 401 → expired (75), 409 `job_running` and 404 → refused (1).
 */
function asJobError(operator: string, jobId?: string): (err: unknown) => never {
  return (err) => {
    if (!(err instanceof ApiCallError)) throw err;
    if (err.status === 400) throw new InvalidReencryptParams(err.answer);
    if (err.status === 401) throw new SessionExpired(`${err.answer} (HTTP 401)`);
    if (err.status === 404 && jobId !== undefined) throw new JobNotFound(jobId);
    if (err.status === 409 && err.code === "job_running") {
      const holder = typeof err.body.job_id === "string" ? err.body.job_id : "?";
      throw new JobRunning(holder, operator);
    }
    throw err;
  };
}

const FLAGS = {
  "operator-omni": { type: "string" },
  "old-epoch": { type: "string" },
  "new-epoch": { type: "string" },
  "dry-run": { type: "boolean" },
  concurrency: { type: "string" },
  classes: { type: "string" },
  json: { type: "boolean" },
  url: { type: "string" },
} as const;

function parseOptions(args: string[]): CliOptions | "help" {
  const parsed = parseFlags(args, FLAGS);
  if (parsed.help) return "help";
  const values = parsed.values as {
    [K in keyof typeof FLAGS]?: (typeof FLAGS)[K]["type"] extends "string" ? string : boolean;
  };
  const omni = values["operator-omni"];
  if (omni === undefined) throw new UsageError("--operator-omni is required");
  const epoch = (name: "old-epoch" | "new-epoch") => {
    const v = values[name];
    if (v === undefined) throw new UsageError(`--${name} is required`);
    if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number, got ${v}`);
    return Number(v);
  };
  const request: JobRequest = {
    operator_omni: omni,
    old_epoch: epoch("old-epoch"),
    new_epoch: epoch("new-epoch"),
    dry_run: values["dry-run"] ?? false,
  };
  if (values.concurrency !== undefined) {
    if (!/^\d+$/.test(values.concurrency)) {
      throw new UsageError(`--concurrency must be a whole number, got ${values.concurrency}`);
    }
    request.concurrency = Number(values.concurrency);
  }
  if (values.classes !== undefined) {
    request.classes = values.classes.split(",").map((c) => c.trim()).filter((c) => c !== "");
  }
  if (values.url !== undefined && !/^https?:\/\/[^\s]+$/.test(values.url)) {
    throw new UsageError(`--url must be an http(s) URL, got ${values.url}`);
  }
  return { request, json: values.json ?? false, url: values.url };
}

/**
 * The text of one blob line.
 *
 * ```ts
 * formatBlobLine({ key: "bots/…/credentials/openai.enc", outcome: "reencrypted", from_epoch: 1,
 *   ms: 3, actor_omni: "0x…", data_class: "credentials" }, 2);
 * // "reencrypted bots/…/credentials/openai.enc epoch 1 -> 2 3ms"
 * ```
 */
export function formatBlobLine(blob: BlobEvent, newEpoch: number): string {
  const to = epochAfter(blob.outcome, blob.from_epoch, newEpoch);
  const line = `${blob.outcome} ${blob.key} epoch ${blob.from_epoch ?? "?"} -> ${to ?? "?"} ${
    Math.round(blob.ms)
  }ms`;
  return blob.reason === undefined ? line : `${line} ${blob.reason}`;
}

/**
 * The final summary line.
 *
 * ```ts
 * formatSummary({ reencrypted: 5, would_reencrypt: 0, skipped: 2, other_epoch: 0, failed: 0,
 *   duration_ms: 40, state: "succeeded" });
 * // "summary succeeded: 5 reencrypted, 0 would-reencrypt, 2 skipped, 0 other-epoch, 0 failed in 40ms"
 * ```
 */
export function formatSummary(s: SummaryEvent): string {
  const line = `summary ${s.state}: ${s.reencrypted} reencrypted, ${s.would_reencrypt} ` +
    `would-reencrypt, ${s.skipped} skipped, ${s.other_epoch} other-epoch, ${s.failed} failed ` +
    `in ${s.duration_ms}ms`;
  return s.error === undefined ? line : `${line} (${s.error})`;
}

/**
 * The exit code a run's final state calls for.
 *
 * ```ts
 * exitCodeOf("aborted"); // 75
 * ```
 */
export function exitCodeOf(state: RunState | undefined): number {
  switch (state) {
    case "succeeded":
      return EXIT.ok;
    case "aborted":
      return EXIT.expired;
    case "cancelled":
      return EXIT.cancelled;
    default:
      return EXIT.failed;
  }
}

/** Lines buffered before a write: one write per blob would cost a syscall per blob. */
const FLUSH_LINES = 256;
const FLUSH_MS = 50;

/** Turns events into output, buffering stdout and drawing the progress line on a TTY. */
class Renderer {
  #lines: string[] = [];
  #lastFlush = performance.now();
  #progressShown = false;
  #progress: ProgressEvent | undefined;

  constructor(
    readonly stdout: TextOut,
    readonly stderr: TextOut,
    readonly json: boolean,
    readonly tty: boolean,
    readonly newEpoch: number,
  ) {}

  /** A line for the operator on stderr (never mixed into stdout, which may be piped as JSON). */
  async note(text: string): Promise<void> {
    await this.stderr.write(`${text}\n`);
  }

  /** Consumes a job's events until `end`; returns the exit code its summary calls for. */
  async follow(events: AsyncIterable<JobEvent>): Promise<number> {
    let summary: SummaryEvent | undefined;
    for await (const e of events) {
      if (e.event === "blob") {
        this.#lines.push(
          this.json
            ? JSON.stringify({ event: "blob", ...e.data })
            : formatBlobLine(e.data, this.newEpoch),
        );
      } else if (e.event === "progress") {
        this.#progress = e.data;
      } else if (e.event === "summary") {
        summary = e.data;
        this.#lines.push(
          this.json ? JSON.stringify({ event: "summary", ...summary }) : formatSummary(summary),
        );
      } else if (e.event === "end") {
        break;
      }
      if (
        this.#lines.length >= FLUSH_LINES || performance.now() - this.#lastFlush >= FLUSH_MS
      ) await this.flush();
    }
    await this.flush(true);
    if (summary === undefined) {
      await this.note("reencrypt: the job's event stream ended without a summary");
      return EXIT.failed;
    }
    if (summary.state === "aborted") {
      await this.note(
        `reencrypt: aborted: ${summary.error ?? "credentials expired"}; re-run to continue`,
      );
    }
    return exitCodeOf(summary.state);
  }

  async flush(final = false): Promise<void> {
    this.#lastFlush = performance.now();
    if (this.#lines.length > 0) {
      if (this.#progressShown) {
        await this.stderr.write("\r\x1b[K");
        this.#progressShown = false;
      }
      const text = this.#lines.join("\n") + "\n";
      this.#lines = [];
      await this.stdout.write(text);
    }
    if (this.tty && this.#progress && !final) {
      const p = this.#progress;
      const width = 24;
      const filled = p.listed === 0 ? 0 : Math.round((p.done / p.listed) * width);
      const bar = "#".repeat(filled) + ".".repeat(width - filled);
      await this.stderr.write(
        `\r\x1b[K[${bar}] ${p.done}/${p.listed} listed, ${p.rate_per_s} blobs/s`,
      );
      this.#progressShown = true;
    } else if (this.#progressShown) {
      await this.stderr.write("\r\x1b[K");
      this.#progressShown = false;
    }
  }
}

/** The session `deno task cli login` saved, when it was for the same service. */
async function savedCliSession(
  env: Record<string, string | undefined>,
  url: string,
): Promise<string | undefined> {
  let home: string;
  try {
    home = loadCliConfig(env).home;
  } catch {
    return undefined;
  }
  const saved = await loadSession(home).catch(() => undefined);
  if (!saved) return undefined;
  return new URL(saved.url).origin === new URL(url).origin ? saved.session_jwt : undefined;
}
