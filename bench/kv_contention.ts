/**
 * Two processes on one data directory's `state.kv` (the fifth review's `database is locked`):
 * `deno run -A bench/kv_contention.ts [flags]`.
 *
 * Builds a data directory with `--blobs` epoch-1 blobs, rotated to epoch 2, and runs at once the
 * headless job (`deno task reencrypt --operator-omni all --old-epoch 1 --new-epoch 2
 * --concurrency K --json`) and a service-like load process (tests/support/kv_load.ts: cap id
 * claims, checked reads, memory puts) until the job ends (tests/support/kv_contention.ts). It
 * prints the job's failed blobs by reason, its time, the load's operations, its errors by kind
 * (SQLite's busy error, `state_busy`, other) and its slowest operation.
 *
 * With `--baseline DIR` (a checkout of older code: `git worktree add --detach /tmp/base <commit>`)
 * the same scenario runs first with DIR's job and load (the load script is copied into DIR when
 * it has none), and the figures are compared as ratios this code / baseline.
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
import { type ContentionFigures, runContention } from "../tests/support/kv_contention.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const LOAD = join("tests", "support", "kv_load.ts");

const { values } = parseArgs({
  args: Deno.args,
  options: {
    blobs: { type: "string", default: "1500" },
    concurrency: { type: "string", default: "8" },
    clients: { type: "string", default: "4" },
    baseline: { type: "string" },
  },
});
const options = {
  blobs: Number(values.blobs),
  concurrency: Number(values.concurrency),
  clients: Number(values.clients),
};

const runs: [string, string][] = [];
if (values.baseline) {
  await Deno.stat(join(values.baseline, LOAD)).catch(() =>
    Deno.copyFile(join(ROOT, LOAD), join(values.baseline!, LOAD))
  );
  runs.push(["baseline", values.baseline]);
}
runs.push(["this code", ROOT]);

const results: ContentionFigures[] = [];
for (const [name, root] of runs) {
  console.log(
    `# ${name} (${root}): ${options.blobs} blobs, job concurrency ${options.concurrency}, ` +
      `${options.clients} load clients`,
  );
  const f = await runContention({ root, ...options });
  console.log(
    `job: exit ${f.jobExit}, ${f.jobMs} ms, ${f.reencrypted} reencrypted, ${f.failed} failed`,
  );
  for (const [code, n] of Object.entries(f.reasons)) console.log(`  failed ${n}× ${code}`);
  if (f.jobExit !== 0 && f.failed === 0) console.log(`  stderr: ${f.jobStderr.trim().slice(-300)}`);
  const errors = Object.entries(f.load.errors).map(([k, n]) => `${n}× ${k}`).join(", ");
  console.log(
    `load: ${f.load.ops} operations, slowest ${f.load.maxMs} ms, errors: ${errors || "none"}`,
  );
  results.push(f);
}

if (results.length === 2) {
  const [base, now] = results;
  const ratio = (
    a: number,
    b: number,
  ) => (b === 0 ? (a === 0 ? "1.00" : "inf") : (a / b).toFixed(2));
  const errs = (f: ContentionFigures) => Object.values(f.load.errors).reduce((s, n) => s + n, 0);
  const row = (what: string, a: number, b: number) =>
    console.log(`${what.padEnd(16)} ${a} / ${b} = ${ratio(a, b)}`);
  console.log("# this code / baseline");
  row("failed blobs", now.failed, base.failed);
  row("load errors", errs(now), errs(base));
  row("job ms", now.jobMs, base.jobMs);
  row("load ops", now.load.ops, base.load.ops);
  row("slowest load ms", now.load.maxMs, base.load.maxMs);
}
