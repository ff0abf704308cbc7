/**
 * The fifth review's scenario against the real service: `deno run -A
 * bench/kv_contention_service.ts [flags]`.
 *
 * Starts `deno task start` on a fresh data directory and port (embedded chain), signs an operator
 * in (SIWE), claims admin, stores `--blobs` credentials, rotates (`POST /v1/epochs/rotate`), then
 * runs `deno task reencrypt --operator-omni all --old-epoch N --new-epoch N+1 --concurrency K
 * --json` headless on the same data directory while `--readers` clients fetch credentials (a
 * `cred-fetch` cap minted per read). It prints the job's failed blobs by reason, the service's
 * answers during the job by status and code, and what the service logged (unhandled errors,
 * `database is locked`). The service's own eager job moves some blobs first; the headless job
 * skips those.
 *
 * With `--baseline DIR` (a checkout of older code: `git worktree add --detach /tmp/base <commit>`)
 * the scenario runs first with DIR's service and job; this checkout's client drives both.
 *
 * ```text
 * --blobs N     default 1500     --concurrency K   the job's (default 8)
 * --readers N   default 4        --baseline DIR    older checkout to compare with
 * ```
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ApiCallError } from "../lib/client/mod.ts";
import { signInNewOperator } from "../tests/support/service_process.ts";
import { tallyJobLog } from "../tests/support/kv_contention.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

const { values } = parseArgs({
  args: Deno.args,
  options: {
    blobs: { type: "string", default: "1500" },
    concurrency: { type: "string", default: "8" },
    readers: { type: "string", default: "4" },
    baseline: { type: "string" },
  },
});
const BLOBS = Number(values.blobs);

interface Figures {
  jobExit: number;
  jobMs: number;
  reencrypted: number;
  failed: Record<string, number>;
  answers: Record<string, number>;
  unhandled: number;
  locked: number;
}

/** `deno task start` from `root` on `dataDir`; resolves with its URL once it listens. */
async function startService(root: string, dataDir: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "start"],
    cwd: root,
    env: { ...Deno.env.toObject(), AGENTKEYS_DATA_DIR: dataDir, AGENTKEYS_PORT: "0" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs = { out: "", err: "" };
  // Both pipes are drained to the end: a full pipe would stall the service.
  const drained = Promise.all([
    (async () => {
      for await (const c of child.stdout.pipeThrough(new TextDecoderStream())) logs.out += c;
    })(),
    (async () => {
      for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) logs.err += c;
    })(),
  ]);
  const waitFor = async (pattern: RegExp) => {
    for (let i = 0; i < 1200; i++) {
      const m = pattern.exec(logs.out);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the service never printed ${pattern}:\n${logs.out}\n${logs.err}`);
  };
  const [, url] = await waitFor(/listening on (http:\/\/\S+)/);
  return {
    url,
    logs,
    waitFor,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await drained;
    },
  };
}

async function scenario(root: string): Promise<Figures> {
  const dir = await Deno.makeTempDir({ prefix: "agentkeys-bench-" });
  const dataDir = join(dir, "data");
  const service = await startService(root, dataDir);
  try {
    const { api, me, operator_omni } = await signInNewOperator(service.url);
    const [, token] = await service.waitFor(/admin claim token: ([0-9a-f]{64})\n/);
    await me.claimAdmin(token);
    const scope = { operator_omni, actor_omni: operator_omni };
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < BLOBS) {
        const i = next++;
        const { cap } = await me.mintCap("cred-store", { ...scope, service: `svc-${i}` });
        await api.storeCredential(cap, new TextEncoder().encode(`secret-${i}`));
      }
    }));
    const { active } = await me.call<{ active: number }>("POST", "/v1/epochs/rotate");
    let stop = false;
    const answers: Record<string, number> = {};
    const readers = Array.from({ length: Number(values.readers) }, async () => {
      while (!stop) {
        let answer = "200";
        try {
          const service = `svc-${Math.floor(Math.random() * BLOBS)}`;
          const { cap } = await me.mintCap("cred-fetch", { ...scope, service });
          await api.fetchCredential(cap);
        } catch (err) {
          answer = err instanceof ApiCallError ? `${err.status} ${err.code}` : String(err);
        }
        answers[answer] = (answers[answer] ?? 0) + 1;
      }
    });
    const started = performance.now();
    const job = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "-q",
        "reencrypt",
        "--operator-omni",
        "all",
        "--old-epoch",
        String(active - 1),
        "--new-epoch",
        String(active),
        "--concurrency",
        values.concurrency,
        "--json",
      ],
      cwd: root,
      env: { ...Deno.env.toObject(), AGENTKEYS_DATA_DIR: dataDir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const jobMs = Math.round(performance.now() - started);
    stop = true;
    await Promise.all(readers);
    const tally = tallyJobLog(job.stdout);
    const figures: Figures = {
      jobExit: job.code,
      jobMs,
      reencrypted: tally.reencrypted,
      failed: tally.reasons,
      answers,
      unhandled: 0,
      locked: 0,
    };
    if (job.code !== 0 && Object.keys(figures.failed).length === 0) {
      console.log(`  job stderr: ${new TextDecoder().decode(job.stderr).trim().slice(-300)}`);
    }
    await service.stop();
    figures.unhandled = service.logs.err.split("\n").filter((l) => l.includes("unhandled error"))
      .length;
    figures.locked = (service.logs.err.match(/database is locked/g) ?? []).length;
    return figures;
  } finally {
    await service.stop().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const runs: [string, string][] = values.baseline ? [["baseline", values.baseline]] : [];
runs.push(["this code", ROOT]);
const results: Figures[] = [];
for (const [name, root] of runs) {
  console.log(
    `# ${name} (${root}): ${BLOBS} credentials, job concurrency ${values.concurrency}, ` +
      `${values.readers} readers`,
  );
  const f = await scenario(root);
  const failed = Object.values(f.failed).reduce((s, n) => s + n, 0);
  console.log(
    `job: exit ${f.jobExit}, ${f.jobMs} ms, ${f.reencrypted} reencrypted, ${failed} failed ` +
      JSON.stringify(f.failed),
  );
  console.log(`service answers during the job: ${JSON.stringify(f.answers)}`);
  console.log(
    `service log: ${f.unhandled} unhandled errors, ${f.locked} "database is locked"`,
  );
  results.push(f);
}
if (results.length === 2) {
  const [base, now] = results;
  const sum = (r: Record<string, number>) => Object.values(r).reduce((s, n) => s + n, 0);
  const errors = (f: Figures) => sum(f.answers) - (f.answers["200"] ?? 0);
  const ratio = (
    a: number,
    b: number,
  ) => (b === 0 ? (a === 0 ? "1.00" : "inf") : (a / b).toFixed(2));
  const row = (what: string, a: number, b: number) =>
    console.log(`${what.padEnd(22)} ${a} / ${b} = ${ratio(a, b)}`);
  console.log("# this code / baseline");
  row("failed blobs", sum(now.failed), sum(base.failed));
  row("service error answers", errors(now), errors(base));
  row("service reads (200)", now.answers["200"] ?? 0, base.answers["200"] ?? 0);
  row("job ms", now.jobMs, base.jobMs);
}
