/**
 * What issue 12 adds to the request path, each against a baseline measured in the same run:
 *
 * 1. the metrics middleware (a counter and a histogram per request, route pattern lookup):
 *    in-process `GET /healthz` through the real app with and without it;
 * 2. the TTL's access record (`TouchingStore`): reading a 1 KiB memory blob from the fs store
 *    directly, through the wrapper re-reading one key (throttled: no KV write), and through the
 *    wrapper reading a new key each time (one KV write per read);
 * 3. the `/metrics` exposition itself (scrape time with ~100 label sets).
 *
 * `deno run -A bench/lifecycle.ts` (rounds alternate the variants' order; the median of 5 is
 * printed).
 *
 * @module
 */

import { join } from "node:path";
import { FsBlobStore } from "../lib/store/mod.ts";
import { KvStateStore, KvWriteLedger, SessionDenylist } from "../lib/state/mod.ts";
import { EpochKeystore } from "../lib/signer/mod.ts";
import { LifecycleStore, TouchingStore } from "../lib/lifecycle/mod.ts";
import { ServiceMetrics } from "../lib/metrics/mod.ts";
import { memoryLocation, sealBlob, VaultWorker } from "../lib/worker/mod.ts";
import { createApp } from "../routes/app.ts";
import { testCapKey } from "../tests/support/caps.ts";
import { NO_CHAIN_AUTHORITY } from "../tests/support/worker_deps.ts";

const ROUNDS = 5;
const dir = await Deno.makeTempDir({ prefix: "agentkeys-bench-lifecycle-" });
const store = new FsBlobStore(join(dir, "blobs"));
const keystore = await EpochKeystore.open({
  path: join(dir, "ks.json"),
  sealKey: crypto.getRandomValues(new Uint8Array(32)),
});
const state = await KvStateStore.open(join(dir, "state.kv"));
const limits = { credentials: 65536, memory: 1048576, inbound: 1048576, keyring: 1048576 };

function app(metrics?: ServiceMetrics) {
  const worker = new VaultWorker({
    store,
    keys: keystore,
    state,
    capKeys: caps.keys,
    limits,
    authority: NO_CHAIN_AUTHORITY,
    ledger: new KvWriteLedger(state.kv),
    sessions: new SessionDenylist(state),
  });
  return createApp({
    worker,
    port: 80,
    limits,
    metrics,
    health: {
      version: "bench",
      roles: ["worker"],
      store: "fs",
      chainId: null,
      activeEpoch: () => keystore.activeEpoch,
    },
  });
}
const caps = await testCapKey();

async function rate(n: number, fn: (i: number) => unknown): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return n / ((performance.now() - t) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// 1. Metrics middleware.
const plain = app();
const metrics = new ServiceMetrics({});
const measured = app(metrics);
const base: number[] = [];
const withMetrics: number[] = [];
// Warm-up: both paths compiled before anything counts.
await rate(5000, () => plain.request("/healthz"));
await rate(5000, () => measured.request("/healthz"));
for (let r = 0; r < ROUNDS; r++) {
  // ABBA order, so neither variant always runs first in a round.
  const pair: [number[], typeof plain][] = [[base, plain], [withMetrics, measured]];
  if (r % 2) pair.reverse();
  for (const [out, a] of pair) out.push(await rate(5000, () => a.request("/healthz")));
}

// 2. Access records.
const touches = new LifecycleStore(state.kv);
const ttls = { memory: 30 * 86400_000, inbound: null };
const touching = new TouchingStore(store, touches, ttls);
const actor = "ab".repeat(32);
const KEYS = 2000;
const keys: string[] = [];
for (let i = 0; i < KEYS; i++) {
  const loc = memoryLocation(actor, "bench", `n${i}`);
  await store.put(loc.key, sealBlob(keystore, loc, new Uint8Array(1024)).blob);
  keys.push(loc.key);
}
const direct: number[] = [];
const sameKey: number[] = [];
const newKey: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  // A fresh wrapper each round, so every key is a first read (one KV write each).
  const fresh = new TouchingStore(store, touches, ttls);
  const variants: [number[], (i: number) => unknown][] = [
    [direct, (i) => store.get(keys[i])],
    [sameKey, () => touching.get(keys[0])],
    [newKey, (i) => fresh.get(keys[i])],
  ];
  if (r % 2) variants.reverse();
  for (const [out, fn] of variants) out.push(await rate(KEYS, fn));
}

// 3. Exposition.
for (let i = 0; i < 100; i++) metrics.observeRequest(`/route/${i}`, "GET", 200, 0.001);
const scrapes: number[] = [];
for (let r = 0; r < ROUNDS; r++) scrapes.push(await rate(200, () => metrics.text()));

const row = (name: string, v: number, baseline: number) =>
  console.log(
    `${name.padEnd(48)} ${Math.round(v).toLocaleString("en").padStart(8)} /s  ${
      (v / baseline).toFixed(2)
    }×`,
  );
console.log("GET /healthz in process (baseline: without metrics)");
row("  without metrics middleware", median(base), median(base));
row("  with metrics middleware", median(withMetrics), median(base));
console.log("1 KiB memory blob get (baseline: the fs store directly)");
row("  FsBlobStore.get", median(direct), median(direct));
row("  TouchingStore.get, same key (throttled)", median(sameKey), median(direct));
row("  TouchingStore.get, new key (KV write each)", median(newKey), median(direct));
console.log("GET /metrics exposition, ~110 series (baseline: itself)");
row("  ServiceMetrics.text()", median(scrapes), median(scrapes));

state.close();
await store.close();
await Deno.remove(dir, { recursive: true });
