/**
 * Sidecar overhead: `deno run -A bench/sidecar.ts [--requests N]`.
 *
 * A fake upstream (its own process, answering a small fixed body) and the sidecar (its own
 * process, on a Unix socket, credential cached after the first request, audit lines to a file)
 * are started; this process is the caller the policy names. The same request goes straight to
 * the upstream ("direct", TCP, keep-alive) and through the sidecar (keep-alive on the socket),
 * in alternating rounds so drift hits both alike: sequentially, then with 32 concurrent clients.
 * Prints p50/p99 latency, throughput, and the ratios against direct, and whether the targets
 * (≤ 0.5 ms added at p50 sequentially; ≥ 0.8 of direct throughput at 32 clients) were met.
 * An extra row, with no target, repeats the 32-client load against an upstream that answers
 * after 20 ms, as a remote API would.
 * Also the CPU each process spends per request, and the throughput ratio that CPU allows when
 * all processes share the machine's cores (see `cpuReport`).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Agent, createServer, request, type RequestOptions } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AuditLog, parsePolicy, startSidecar } from "../lib/sidecar/mod.ts";

const CONCURRENCY = 32;
const ROUNDS = 4;
const TARGET_ADDED_P50_MS = 0.5;
const TARGET_THROUGHPUT_RATIO = 0.8;
/** The extra row: an upstream that answers after this long, as a remote API would. */
const REMOTE_DELAY_MS = 20;
/** Requests per client and round in that row (each round takes at least 8 × 20 ms). */
const REMOTE_PER_CLIENT = 8;
const MODE_LABELS: Record<string, string> = {
  sequential: "sequential",
  concurrent: `concurrent (${CONCURRENCY})`,
  remote: `concurrent (${CONCURRENCY}), upstream +${REMOTE_DELAY_MS} ms`,
};
const PROCS = ["client", "sidecar", "floor", "upstream"] as const;

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    role: { type: "string" },
    socket: { type: "string" },
    upstream: { type: "string" },
    caller: { type: "string" },
    audit: { type: "string" },
    requests: { type: "string" },
  },
});

if (flags.role === "upstream") {
  const body = new TextEncoder().encode('{"ok":true,"model":"bench"}');
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    // The injected credential must be there: a bench that proxies nothing proves nothing.
    if (req.headers.get("authorization") !== "Bearer sk-bench") {
      return new Response("no credential", { status: 401 });
    }
    if (req.url.endsWith("/v1/slow")) await new Promise((r) => setTimeout(r, REMOTE_DELAY_MS));
    return new Response(body, { headers: { "content-type": "application/json" } });
  });
  console.log(server.addr.port);
  await server.finished;
} else if (flags.role === "floor") {
  // The least any proxy on node:http (the one Deno HTTP server that exposes the socket's
  // descriptor for SO_PEERCRED) can cost: no checks, one node:http call upstream (the client
  // the sidecar uses, cheaper than fetch here), the body in one write.
  const agent = new Agent({ keepAlive: true });
  const server = createServer((req, res) => {
    const up = request(`${flags.upstream}${req.url!.slice("/api".length)}`, {
      agent,
      headers: { authorization: "Bearer sk-bench" },
    }, (r) => {
      const chunks: Uint8Array[] = [];
      r.on("data", (c: Uint8Array) => chunks.push(c));
      r.on("end", () => {
        res.writeHead(r.statusCode!, { "content-type": r.headers["content-type"] ?? "" });
        res.end(Buffer.concat(chunks));
      });
    });
    up.end();
  });
  server.listen(flags.socket!, () => console.log("ready"));
} else if (flags.role === "sidecar") {
  const policy = parsePolicy(`
[[caller]]
uid = ${Deno.uid()}
exe = "${flags.caller}"
services = ["api"]

[service.api]
upstream = "${flags.upstream}"
inject = "bearer"
`);
  await startSidecar({
    socketPath: flags.socket!,
    policy: () => policy,
    credentials: { fetch: () => Promise.resolve("sk-bench") },
    // The daemon's own audit writer: one line per request is part of the cost.
    audit: (await AuditLog.open(flags.audit!)).write,
  });
  console.log("ready");
  await new Promise(() => {});
} else {
  await main(Number(flags.requests ?? 2000));
}

async function main(requests: number) {
  const dir = await Deno.makeTempDir({ prefix: "sidecar-bench-" });
  const self = new URL(import.meta.url).pathname;
  const spawn = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", self, ...args],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
  const up = spawn(["--role", "upstream"]);
  const upReader = up.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const port = Number((await upReader.read()).value!.trim());
  const socket = join(dir, "run", "agentkeys-proxy.sock");
  const side = spawn([
    "--role",
    "sidecar",
    "--socket",
    socket,
    "--upstream",
    `http://127.0.0.1:${port}`,
    "--caller",
    Deno.realPathSync(Deno.execPath()),
    "--audit",
    join(dir, "audit.jsonl"),
  ]);
  const sideReader = side.stdout.pipeThrough(new TextDecoderStream()).getReader();
  await sideReader.read();
  const floorSocket = join(dir, "floor.sock");
  const floor = spawn([
    "--role",
    "floor",
    "--socket",
    floorSocket,
    "--upstream",
    `http://127.0.0.1:${port}`,
  ]);
  await floor.stdout.pipeThrough(new TextDecoderStream()).getReader().read();
  try {
    const direct = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const viaSidecar = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const viaFloor = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const targets = {
      direct: (path = "/v1/models") =>
        once({
          agent: direct,
          host: "127.0.0.1",
          port,
          path,
          headers: { authorization: "Bearer sk-bench" },
        }),
      floor: (path = "/v1/models") =>
        once({ agent: viaFloor, socketPath: floorSocket, path: `/api${path}` }),
      sidecar: (path = "/v1/models") =>
        once({
          agent: viaSidecar,
          socketPath: socket,
          path: `/api${path}`,
          headers: { authorization: "Bearer agentkeys-placeholder" },
        }),
    };
    // Warm-up (JIT, connections, the sidecar's one credential fetch).
    for (const t of Object.values(targets)) for (let i = 0; i < 300; i++) await t();

    const pids: Record<Proc, number> = {
      client: Deno.pid,
      sidecar: side.pid,
      floor: floor.pid,
      upstream: up.pid,
    };
    const results: Results = {
      sequential: { direct: newLoad(), floor: newLoad(), sidecar: newLoad() },
      concurrent: { direct: newLoad(), floor: newLoad(), sidecar: newLoad() },
      remote: { direct: newLoad(), floor: newLoad(), sidecar: newLoad() },
    };
    const concurrently = async (load: Load, op: () => Promise<void>, perClient: number) => {
      const cpu0 = cpuOf(pids);
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (let i = 0; i < perClient; i++) {
            const t0 = performance.now();
            await op();
            load.lat.push(performance.now() - t0);
          }
        }),
      );
      load.ms += performance.now() - started;
      addCpu(load, cpu0, cpuOf(pids));
      load.n += perClient * CONCURRENCY;
    };
    const per = Math.ceil(requests / ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0
        ? ["direct", "floor", "sidecar"]
        : ["sidecar", "floor", "direct"];
      for (const name of order as ("direct" | "floor" | "sidecar")[]) {
        const seq = results.sequential[name];
        const cpu0 = cpuOf(pids);
        const started = performance.now();
        for (let i = 0; i < per; i++) {
          const t0 = performance.now();
          await targets[name]();
          seq.lat.push(performance.now() - t0);
        }
        seq.ms += performance.now() - started;
        addCpu(seq, cpu0, cpuOf(pids));
        seq.n += per;

        const perClient = Math.ceil((per * 2) / CONCURRENCY);
        await concurrently(results.concurrent[name], () => targets[name](), perClient);
        await concurrently(
          results.remote[name],
          () => targets[name]("/v1/slow"),
          REMOTE_PER_CLIENT,
        );
      }
    }
    direct.destroy();
    viaSidecar.destroy();
    viaFloor.destroy();
    report(results, requests);
  } finally {
    for (const p of [up, side, floor]) p.kill();
    await Promise.all([up.status, side.status, floor.status]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

type Proc = typeof PROCS[number];
/** One path in one mode: latencies, wall time, requests, and CPU seconds per process. */
type Load = { lat: number[]; ms: number; n: number; cpu: Record<Proc, number> };
type Results = Record<string, Record<string, Load>>;

function newLoad(): Load {
  return { lat: [], ms: 0, n: 0, cpu: { client: 0, sidecar: 0, floor: 0, upstream: 0 } };
}

/** utime + stime of a process (all its threads) in seconds, from /proc/<pid>/stat. */
function procCpu(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // in ticks of 1/100 s
}

function cpuOf(pids: Record<Proc, number>): Record<Proc, number> {
  return Object.fromEntries(PROCS.map((p) => [p, procCpu(pids[p])])) as Record<Proc, number>;
}

function addCpu(load: Load, before: Record<Proc, number>, after: Record<Proc, number>) {
  for (const p of PROCS) load.cpu[p] += after[p] - before[p];
}

function once(options: RequestOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ method: "GET", ...options }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      res.resume();
      res.on("end", () => resolve());
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function report(results: Results, requests: number) {
  const f = (n: number, d = 3) => n.toFixed(d);
  console.log(
    `\nSidecar overhead (cache hit), ${requests} requests per path and mode, ${ROUNDS} alternating rounds\n`,
  );
  console.log(
    "| mode | path | p50 ms | p99 ms | req/s | p50 vs direct | p99 vs direct | req/s vs direct |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  const summary: Record<string, { p50: number; p99: number; rps: number }> = {};
  for (const [mode, paths] of Object.entries(results)) {
    const base = stats(paths.direct);
    for (const [path, r] of Object.entries(paths)) {
      const s = stats(r);
      summary[`${mode}.${path}`] = s;
      console.log(
        `| ${MODE_LABELS[mode]} | ${path} | ${f(s.p50)} | ${f(s.p99)} | ${Math.round(s.rps)} | ${
          f(s.p50 / base.p50, 2)
        } | ${f(s.p99 / base.p99, 2)} | ${f(s.rps / base.rps, 2)} |`,
      );
    }
  }
  const added = summary["sequential.sidecar"].p50 - summary["sequential.direct"].p50;
  const floorAdded = summary["sequential.floor"].p50 - summary["sequential.direct"].p50;
  const floorRatio = summary["concurrent.floor"].rps / summary["concurrent.direct"].rps;
  console.log(
    `\nthe floor (no checks) adds ${f(floorAdded)} ms at p50 and keeps ${
      f(floorRatio, 2)
    } of direct throughput at ${CONCURRENCY} clients; the sidecar's own work: ${
      f(added - floorAdded)
    } ms at p50`,
  );
  const ratio = summary["concurrent.sidecar"].rps / summary["concurrent.direct"].rps;
  const bounds = cpuReport(results);
  console.log(
    `\nadded at p50, sequential: ${f(added)} ms (target ≤ ${TARGET_ADDED_P50_MS} ms): ${
      added <= TARGET_ADDED_P50_MS ? "met" : "MISSED"
    }`,
  );
  console.log(
    `throughput at ${CONCURRENCY} clients: ${
      f(ratio, 2)
    } of direct (target ≥ ${TARGET_THROUGHPUT_RATIO}): ${
      ratio >= TARGET_THROUGHPUT_RATIO ? "met" : "MISSED"
    }; the CPU bound on shared cores allows at most ${f(bounds.sidecar, 2)} (floor: ${
      f(bounds.floor, 2)
    })`,
  );
  const remoteRatio = summary["remote.sidecar"].rps / summary["remote.direct"].rps;
  const remoteAdded = summary["remote.sidecar"].p50 - summary["remote.direct"].p50;
  console.log(
    `extra row, not a target — an upstream answering after ${REMOTE_DELAY_MS} ms, ${CONCURRENCY} clients: ${
      f(remoteRatio, 2)
    } of direct throughput, ${f(remoteAdded)} ms added at p50`,
  );
}

/**
 * Where the CPU goes, per request and process, and the throughput ratio it allows. All
 * processes share the same cores, so when they are saturated a request costs its CPU summed
 * over every process it crosses: direct C + U, through a proxy C' + P + U', hence
 * ratio ≤ (C + U) / (C' + P + U') whatever the proxy does with its time. Exactly, throughput is
 * cores busy / CPU per request, so the measured ratio is that bound times the ratio of cores
 * busy; it exceeds the bound only when the direct run got fewer cores (other load on the
 * machine gives three busy processes a larger share than two).
 */
function cpuReport(results: Results): { sidecar: number; floor: number } {
  const us = (s: number, n: number) => ((s / n) * 1e6).toFixed(0);
  console.log("\nCPU per request (µs, utime+stime from /proc/<pid>/stat, 10 ms ticks)\n");
  console.log("| mode | path | client | proxy | upstream | total | cores busy |");
  console.log("|---|---|---|---|---|---|---|");
  const perReq: Record<string, number> = {};
  const busy: Record<string, number> = {};
  for (const [mode, paths] of Object.entries(results)) {
    for (const [path, r] of Object.entries(paths)) {
      const proxy = path === "sidecar" ? r.cpu.sidecar : path === "floor" ? r.cpu.floor : 0;
      const total = r.cpu.client + proxy + r.cpu.upstream;
      perReq[`${mode}.${path}`] = total / r.n;
      busy[`${mode}.${path}`] = total / (r.ms / 1000);
      console.log(
        `| ${MODE_LABELS[mode]} | ${path} | ${us(r.cpu.client, r.n)} | ${
          path === "direct" ? "–" : us(proxy, r.n)
        } | ${us(r.cpu.upstream, r.n)} | ${us(total, r.n)} | ${
          (total / (r.ms / 1000)).toFixed(2)
        } |`,
      );
    }
  }
  const bound = (path: string) => perReq["concurrent.direct"] / perReq[`concurrent.${path}`];
  const b = { sidecar: bound("sidecar"), floor: bound("floor") };
  console.log(
    `\nCPU bound at ${CONCURRENCY} clients, (C+U)/(C'+S+U'): sidecar ${
      b.sidecar.toFixed(2)
    }, floor ${
      b.floor.toFixed(2)
    } — the most either can reach against direct while the processes share the cores`,
  );
  const busyRatio = busy["concurrent.sidecar"] / busy["concurrent.direct"];
  console.log(
    `measured sidecar ratio = bound × cores busy (sidecar run / direct run) = ${
      b.sidecar.toFixed(2)
    } × ${busyRatio.toFixed(2)} = ${(b.sidecar * busyRatio).toFixed(2)}`,
  );
  return b;
}

function stats(r: Load) {
  const sorted = [...r.lat].sort((a, b) => a - b);
  return { p50: pct(sorted, 50), p99: pct(sorted, 99), rps: (r.n / r.ms) * 1000 };
}
