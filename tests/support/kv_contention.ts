/**
 * The fifth review's scenario, two real processes on one data directory: the headless
 * re-encryption job (`scripts/reencrypt.ts --operator-omni all --old-epoch 1 --new-epoch 2
 * --json`) beside a service-like load (tests/support/kv_load.ts), both from the checkout at
 * `root` (bench/kv_contention.ts compares an older one). The data directory is built here.
 *
 * @module
 */

import { join } from "node:path";
import { makeDataDir } from "../reencrypt/datadir.ts";
import type { LoadSummary } from "./kv_load.ts";

/** What one run measured. */
export interface ContentionFigures {
  jobExit: number;
  jobMs: number;
  reencrypted: number;
  failed: number;
  /** Failed blobs by the code their reason starts with. */
  reasons: Record<string, number>;
  /** The job's stderr, for a failure before any blob. */
  jobStderr: string;
  load: LoadSummary;
}

/**
 * Counts the blob lines of a `deno task reencrypt --json` run: re-encrypted, failed, and failed
 * by the code their reason starts with.
 */
export function tallyJobLog(
  stdout: Uint8Array,
): { reencrypted: number; failed: number; reasons: Record<string, number> } {
  const tally = { reencrypted: 0, failed: 0, reasons: {} as Record<string, number> };
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    if (!line.startsWith("{")) continue;
    const e = JSON.parse(line);
    if (e.event !== "blob") continue;
    if (e.outcome === "reencrypted") tally.reencrypted++;
    if (e.outcome === "failed") {
      tally.failed++;
      const code = String(e.reason ?? "?").split(":")[0];
      tally.reasons[code] = (tally.reasons[code] ?? 0) + 1;
    }
  }
  return tally;
}

export interface ContentionOptions {
  root: string;
  blobs: number;
  /** The job's `--concurrency`. */
  concurrency: number;
  /** The load's client loops. */
  clients: number;
}

export async function runContention(o: ContentionOptions): Promise<ContentionFigures> {
  await using data = await makeDataDir(o.blobs);
  const keysFile = join(data.dir, "load-keys.json");
  await Deno.writeTextFile(keysFile, JSON.stringify(data.keys));
  const deno = Deno.execPath();
  const load = new Deno.Command(deno, {
    args: [
      "run",
      "-A",
      join(o.root, "tests", "support", "kv_load.ts"),
      "--keys",
      keysFile,
      "--clients",
      String(o.clients),
    ],
    cwd: o.root,
    env: data.env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = load.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes("ready\n")) {
      const { value, done } = await out.read();
      if (done) throw new Error("the load process ended before it was ready");
      text += value;
    }
    const started = performance.now();
    const job = await new Deno.Command(deno, {
      args: [
        "run",
        "-A",
        join(o.root, "scripts", "reencrypt.ts"),
        "--operator-omni",
        "all",
        "--old-epoch",
        "1",
        "--new-epoch",
        "2",
        "--concurrency",
        String(o.concurrency),
        "--json",
      ],
      cwd: o.root,
      env: data.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const jobMs = Math.round(performance.now() - started);
    load.kill("SIGTERM");
    while (true) {
      const { value, done } = await out.read();
      if (done) break;
      text += value;
    }
    return {
      jobExit: job.code,
      jobMs,
      ...tallyJobLog(job.stdout),
      jobStderr: new TextDecoder().decode(job.stderr),
      load: JSON.parse(text.slice(text.indexOf("ready\n") + 6).trim()),
    };
  } finally {
    try {
      load.kill("SIGTERM");
    } catch { /* already gone */ }
    await out.cancel().catch(() => {});
    await load.status;
  }
}
