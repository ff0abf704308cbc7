/**
 * Two processes on one data directory's `state.kv` (the fifth review's `database is locked`):
 * `deno run -A bench/kv_contention.ts [flags]`.
 *
 * Builds a data directory with `--blobs` epoch-1 blobs, rotated to epoch 2, then runs two real
 * processes on it at once:
 *
 * - the headless job, `deno task reencrypt --operator-omni all --old-epoch 1 --new-epoch 2
 *   --concurrency K --json` (scripts/reencrypt.ts);
 * - a service-like load (this file with `--load`): `--clients` loops, each claiming a cap id
 *   (`claimOnce`, as every capped request does), reading a random blob through the integrity
 *   store (pointer check), and every fourth turn putting a new memory blob (pointer intent and
 *   commit, ledger), until the job ends.
 *
 * It prints the job's failed blobs (by reason), the job's time, the load's operations and its
 * errors by kind (SQLite's busy error, `state_busy`, other) and its slowest operation. With
 * `--baseline DIR` (a checkout of older code, e.g. `git worktree add /tmp/old <commit>`) the same
 * scenario runs first with DIR's code (this file is copied into DIR/bench for the load), and the
 * figures are printed side by side with ratios.
 *
 * ```text
 * --blobs N        default 1500        --concurrency K   the job's (default 8)
 * --clients N      default 4           --baseline DIR    older checkout to compare with
 * ```
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");

const { values } = parseArgs({
  args: Deno.args,
  options: {
    blobs: { type: "string", default: "1500" },
    concurrency: { type: "string", default: "8" },
    clients: { type: "string", default: "4" },
    baseline: { type: "string" },
    load: { type: "boolean", default: false },
    keys: { type: "string" },
  },
});

interface LoadSummary {
  ops: number;
  errors: Record<string, number>;
  maxMs: number;
}

/** What one scenario measured. */
interface Figures {
  jobExit: number;
  jobMs: number;
  reencrypted: number;
  failed: number;
  reasons: Record<string, number>;
  load: LoadSummary;
}

if (values.load) {
  await runLoad(values.keys!, Number(values.clients));
} else {
  const blobs = Number(values.blobs);
  const runs: [string, string][] = [];
  if (values.baseline) {
    await Deno.copyFile(
      join(HERE, "kv_contention.ts"),
      join(values.baseline, "bench", "kv_contention.ts"),
    );
    runs.push(["baseline", values.baseline]);
  }
  runs.push(["this code", ROOT]);
  const results: [string, Figures][] = [];
  for (const [name, root] of runs) {
    console.log(
      `# ${name} (${root}): ${blobs} blobs, job concurrency ${values.concurrency}, ${values.clients} clients`,
    );
    const figures = await scenario(root, blobs);
    print(figures);
    results.push([name, figures]);
  }
  if (results.length === 2) {
    const [[, base], [, now]] = results;
    const ratio = (
      a: number,
      b: number,
    ) => (b === 0 ? (a === 0 ? "1.00" : "∞") : (a / b).toFixed(2));
    const errs = (f: Figures) => Object.values(f.load.errors).reduce((s, n) => s + n, 0);
    console.log("# this code / baseline");
    console.log(
      `failed blobs     ${now.failed} / ${base.failed} = ${ratio(now.failed, base.failed)}`,
    );
    console.log(`load errors      ${errs(now)} / ${errs(base)} = ${ratio(errs(now), errs(base))}`);
    console.log(
      `job time         ${now.jobMs} / ${base.jobMs} ms = ${ratio(now.jobMs, base.jobMs)}`,
    );
    console.log(
      `load ops         ${now.load.ops} / ${base.load.ops} = ${ratio(now.load.ops, base.load.ops)}`,
    );
    console.log(
      `slowest load op  ${now.load.maxMs} / ${base.load.maxMs} ms = ${
        ratio(now.load.maxMs, base.load.maxMs)
      }`,
    );
  }
}

function print(f: Figures): void {
  console.log(
    `job: exit ${f.jobExit}, ${f.jobMs} ms, ${f.reencrypted} reencrypted, ${f.failed} failed`,
  );
  for (const [reason, n] of Object.entries(f.reasons)) console.log(`  failed ${n}× ${reason}`);
  console.log(
    `load: ${f.load.ops} operations, slowest ${f.load.maxMs} ms, errors ${
      JSON.stringify(f.load.errors)
    }`,
  );
}

/** Builds the data directory with this checkout's code (the format is the same across them). */
async function scenario(root: string, blobs: number): Promise<Figures> {
  const { makeDataDir } = await import("../tests/reencrypt/datadir.ts");
  await using data = await makeDataDir(blobs);
  const keysFile = join(data.dir, "bench-keys.json");
  await Deno.writeTextFile(keysFile, JSON.stringify(data.keys));
  const deno = Deno.execPath();
  const load = new Deno.Command(deno, {
    args: [
      "run",
      "-A",
      join(root, "bench", "kv_contention.ts"),
      "--load",
      "--keys",
      keysFile,
      "--clients",
      String(values.clients),
    ],
    cwd: root,
    env: data.env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const loadOut = load.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  while (!first.includes("\n")) {
    const { value, done } = await loadOut.read();
    if (done) throw new Error("load process ended before it was ready");
    first += value;
  }
  const started = performance.now();
  const job = await new Deno.Command(deno, {
    args: [
      "run",
      "-A",
      join(root, "scripts", "reencrypt.ts"),
      "--operator-omni",
      "all",
      "--old-epoch",
      "1",
      "--new-epoch",
      "2",
      "--concurrency",
      String(values.concurrency),
      "--json",
    ],
    cwd: root,
    env: data.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const jobMs = Math.round(performance.now() - started);
  load.kill("SIGTERM");
  let rest = first.slice(first.indexOf("\n") + 1);
  while (true) {
    const { value, done } = await loadOut.read();
    if (done) break;
    rest += value;
  }
  await load.status;
  const reasons: Record<string, number> = {};
  let reencrypted = 0;
  let failed = 0;
  for (const line of new TextDecoder().decode(job.stdout).split("\n")) {
    if (!line.startsWith("{")) continue;
    const e = JSON.parse(line);
    if (e.event !== "blob") continue;
    if (e.outcome === "reencrypted") reencrypted++;
    if (e.outcome === "failed") {
      failed++;
      const reason = String(e.reason ?? "?").split(":")[0];
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    }
  }
  const stderr = new TextDecoder().decode(job.stderr);
  if (job.code !== 0 && failed === 0) console.log(stderr.slice(-2000));
  // The job logs each failure's detail (which KV operation met the lock) on stderr.
  for (const m of stderr.matchAll(/(state_busy: \w+|TypeError: database is locked)/g)) {
    const key = `(log) ${m[1]}`;
    reasons[key] = (reasons[key] ?? 0) + 1;
  }
  return { jobExit: job.code, jobMs, reencrypted, failed, reasons, load: JSON.parse(rest.trim()) };
}

/** The service-like load: runs until SIGTERM, then prints its summary as one JSON line. */
async function runLoad(keysFile: string, clients: number): Promise<void> {
  const { loadConfig } = await import("../lib/config/mod.ts");
  const { openHeadless } = await import("../lib/epochs/mod.ts");
  const { memoryLocation, sealBlob } = await import("../lib/worker/mod.ts");
  const keys: string[] = JSON.parse(await Deno.readTextFile(keysFile));
  const h = await openHeadless(loadConfig(Deno.env.toObject()));
  let stop = false;
  Deno.addSignalListener("SIGTERM", () => (stop = true));
  const summary: LoadSummary = { ops: 0, errors: {}, maxMs: 0 };
  const timed = async (op: () => Promise<unknown>) => {
    const t0 = performance.now();
    try {
      await op();
      summary.ops++;
    } catch (err) {
      const kind = err instanceof TypeError && err.message === "database is locked"
        ? "database is locked"
        : (err as { code?: string }).code ?? (err as Error).name;
      summary.errors[kind] = (summary.errors[kind] ?? 0) + 1;
    }
    summary.maxMs = Math.max(summary.maxMs, Math.round(performance.now() - t0));
  };
  const actor = "b2".repeat(32);
  console.log("ready");
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; !stop; i++) {
      await timed(() => h.state.claimOnce("cap", crypto.randomUUID(), Date.now() + 60_000));
      await timed(() => h.store.get(keys[Math.floor(Math.random() * keys.length)]));
      if (i % 4 === 0) {
        const loc = memoryLocation(actor, "bench", `c${c}-${i}`);
        const plaintext = new TextEncoder().encode(`load ${c} ${i}`);
        await timed(() => h.store.put(loc.key, sealBlob(h.keystore, loc, plaintext).blob));
      }
    }
  }));
  console.log(JSON.stringify(summary));
  await h.close();
}
