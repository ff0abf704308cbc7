/**
 * Cap mint + credential fetch throughput against a running service (`deno task start` in a
 * child process, embedded chain, fs store), at 32 concurrent clients, beside `/healthz` on the
 * same server as the ceiling. Prints pairs per second and p50/p99 latency.
 *
 *   deno run -A bench/cap.ts [--seconds 10] [--concurrency 32]
 *
 * The ceiling and the pairs are measured in alternating rounds (`--rounds`, default 3), so that
 * background load hits both alike; the ratio reported is the median of the rounds' ratios.
 *
 * Targets (structure issue): ≥ 4,000 mint+fetch pairs per second, and pairs/s ≥ 0.25 of the
 * `/healthz` requests/s of the same run.
 *
 * @module
 */

import { join } from "node:path";
import { createPublicClient, createWalletClient, http } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { registerAgent, setScope } from "../lib/chain/actions/mod.ts";
import { AgentKeysClient } from "../lib/client/mod.ts";
import { deviceKeyHash, isOmni, serviceHash, signDevicePop } from "../lib/identity/mod.ts";
import { parseArgs } from "node:util";
import {
  freePort,
  signInNewOperator,
  startServiceProcess,
} from "../tests/support/service_process.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    seconds: { type: "string" },
    concurrency: { type: "string" },
    url: { type: "string" },
    rounds: { type: "string" },
  },
});
const SECONDS = Number(flags.seconds ?? 10);
const CONCURRENCY = Number(flags.concurrency ?? 32);
const ROUNDS = Number(flags.rounds ?? 3);
const TARGET_PAIRS = 4000;
const TARGET_RATIO = 0.25;

interface Run {
  ops: number;
  seconds: number;
  latencies: number[];
  errors: number;
  /** CPU seconds spent meanwhile by the service, anvil and this process. */
  cpu: Cpu;
}

interface Cpu {
  service: number;
  anvil: number;
  client: number;
}

/**
 * The processes whose CPU time is counted: CPU per operation does not depend on what else the
 * machine runs, unlike a rate, so it is the figure to compare across runs on a busy machine.
 */
const counted: { service?: number; anvil?: number } = {};

/** CPU seconds (user + system) of `pid` from /proc, or 0 when unknown. */
function procCpu(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in ticks of 1/100 s
  } catch {
    return 0;
  }
}

function cpuNow(): Cpu {
  return {
    service: procCpu(counted.service),
    anvil: procCpu(counted.anvil),
    client: procCpu(Deno.pid),
  };
}

/** Runs `op` in `concurrency` loops for `seconds`; latencies in ms. */
async function load(op: () => Promise<void>, seconds: number, concurrency: number): Promise<Run> {
  const cpu0 = cpuNow();
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      try {
        await op();
        latencies.push(performance.now() - t);
      } catch {
        errors++;
      }
    }
  }));
  const cpu1 = cpuNow();
  return {
    ops: latencies.length,
    seconds: (performance.now() - start) / 1000,
    latencies,
    errors,
    cpu: {
      service: cpu1.service - cpu0.service,
      anvil: cpu1.anvil - cpu0.anvil,
      client: cpu1.client - cpu0.client,
    },
  };
}

/** One run out of several: operations and time add up, latencies are pooled. */
function merge(runs: Run[]): Run {
  return {
    ops: runs.reduce((n, r) => n + r.ops, 0),
    seconds: runs.reduce((n, r) => n + r.seconds, 0),
    latencies: runs.flatMap((r) => r.latencies),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    cpu: {
      service: runs.reduce((n, r) => n + r.cpu.service, 0),
      anvil: runs.reduce((n, r) => n + r.cpu.anvil, 0),
      client: runs.reduce((n, r) => n + r.cpu.client, 0),
    },
  };
}

/** CPU µs per operation, or "–" when the process is not known (`--url`). */
function perOp(seconds: number, ops: number): string {
  return ops > 0 && seconds > 0 ? `${(seconds / ops * 1e6).toFixed(0)} µs` : "–";
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

function row(name: string, r: Run, unit: string) {
  const sorted = r.latencies.toSorted((a, b) => a - b);
  const rate = r.ops / r.seconds;
  return {
    name,
    rate,
    line: `| ${name} | ${rate.toFixed(0)} ${unit}/s | ${pct(sorted, 0.5).toFixed(1)} ms | ${
      pct(sorted, 0.99).toFixed(1)
    } ms | ${r.errors} | ${perOp(r.cpu.service, r.ops)} | ${perOp(r.cpu.anvil, r.ops)} | ${
      perOp(r.cpu.client, r.ops)
    } |`,
  };
}

const dir = await Deno.makeTempDir({ prefix: "agentkeys-bench-cap-" });
const port = freePort();
// --url targets a service you started yourself (e.g. under a profiler); default: start one.
const service = typeof flags.url === "string"
  ? { url: flags.url, stop: () => Promise.resolve() }
  : await startServiceProcess({
    AGENTKEYS_DATA_DIR: join(dir, "data"),
    AGENTKEYS_PORT: String(port),
  });
if (typeof flags.url !== "string") {
  // The service records its pid and anvil's in the data directory (0600, ours).
  const data = join(dir, "data");
  counted.service = JSON.parse(await Deno.readTextFile(join(data, "service.json"))).pid;
  counted.anvil = Number((await Deno.readTextFile(join(data, "chain", "anvil.pid"))).trim());
}
try {
  const api = new AgentKeysClient(service.url);
  const chain = await api.chain();
  const { me: op, wallet: operator, operator_omni } = await signInNewOperator(service.url);
  const device = privateKeyToAccount(generatePrivateKey());

  // The operator's own transactions, as the CLI sends them.
  const viemChain = {
    id: chain.chain_id,
    name: "bench",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [chain.rpc_url!] } },
  };
  const wallet = createWalletClient({
    account: operator,
    chain: viemChain,
    transport: http(chain.rpc_url),
  });
  const reader = createPublicClient({ chain: viemChain, transport: http(chain.rpc_url) });
  const devicePop = await signDevicePop(device, {
    chainId: chain.chain_id,
    registry: chain.contracts.AgentRegistry.address,
    operatorOmni: operator_omni,
    label: "bench-bot",
    generation: 0,
  });
  await reader.waitForTransactionReceipt({
    hash: await registerAgent(wallet, {
      address: chain.contracts.AgentRegistry.address,
      label: "bench-bot",
      generation: 0,
      deviceKeyHash: deviceKeyHash(device.address),
      devicePop,
    }),
  });
  const me = await op.me();
  const actor = me.agents[0].actor_omni;
  if (!isOmni(actor)) throw new Error(`the service listed no agent omni: ${actor}`);
  await reader.waitForTransactionReceipt({
    hash: await setScope(wallet, {
      address: chain.contracts.ScopeRegistry.address,
      actorOmni: actor,
      serviceHashes: [serviceHash("openai")],
      readOnly: false,
    }),
  });
  const grant = { operator_omni, actor_omni: actor, service: "openai" };
  const { cap } = await op.mintCap("cred-store", grant);
  await op.storeCredential(cap, crypto.getRandomValues(new Uint8Array(1024)));
  const agent = api.withSession((await api.loginWithDevice(device)).session_jwt);

  const pair = async () => {
    const { cap } = await agent.mintCap("cred-fetch", grant);
    await agent.fetchCredential(cap);
  };
  const ping = async () => {
    const res = await fetch(`${service.url}/healthz`);
    await res.body?.cancel();
    if (!res.ok) throw new Error(String(res.status));
  };
  await load(pair, 1, CONCURRENCY); // warm-up: JIT, chain read cache, KEK cache
  await load(ping, 1, CONCURRENCY);
  // Alternating rounds: the ratio of each round compares two loads under the same conditions.
  const ceilings: Run[] = [];
  const pairRuns: Run[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    ceilings.push(await load(ping, SECONDS / ROUNDS, CONCURRENCY));
    pairRuns.push(await load(pair, SECONDS / ROUNDS, CONCURRENCY));
  }
  const ceiling = row("GET /healthz (ceiling)", merge(ceilings), "req");
  const pairs = row("cap mint + cred fetch", merge(pairRuns), "pairs");
  const ratios = ceilings.map((c, i) =>
    (pairRuns[i].ops / pairRuns[i].seconds) / (c.ops / c.seconds)
  )
    .toSorted((a, b) => a - b);
  const ratio = ratios[Math.floor(ratios.length / 2)];
  // The two halves alone, to see where a pair's time goes.
  const reusable = (await agent.mintCap("cred-fetch", grant)).cap;
  const mintOnly = row(
    "cap mint alone",
    await load(
      async () => {
        await agent.mintCap("cred-fetch", grant);
      },
      SECONDS / 2,
      CONCURRENCY,
    ),
    "req",
  );
  const fetchOnly = row(
    "cred fetch alone (one reused fetch cap)",
    await load(
      async () => {
        await agent.fetchCredential(reusable);
      },
      SECONDS / 2,
      CONCURRENCY,
    ),
    "req",
  );

  console.log(
    `\ncap mint + fetch, ${CONCURRENCY} concurrent clients, ${SECONDS} s per workload in ${ROUNDS} alternating rounds, ${navigator.hardwareConcurrency} cores (client and server share them)\n`,
  );
  console.log(
    "| workload | rate | p50 | p99 | errors | CPU/op: service | anvil | bench client |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  console.log(ceiling.line);
  console.log(mintOnly.line);
  console.log(fetchOnly.line);
  console.log(pairs.line);
  console.log(
    `\npairs/s ÷ /healthz req/s, per round: ${
      ratios.map((x) => x.toFixed(3)).join(", ")
    } → median ${ratio.toFixed(3)} (each pair is 2 requests, so 0.5 is the bound)`,
  );
  console.log(
    `target ≥ ${TARGET_PAIRS} pairs/s: ${pairs.rate >= TARGET_PAIRS ? "met" : "NOT met"} (${
      pairs.rate.toFixed(0)
    }); target ratio ≥ ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? "met" : "NOT met"} (${
      ratio.toFixed(3)
    })`,
  );
} finally {
  await service.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
