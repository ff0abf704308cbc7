/**
 * Vault integrity costs: `deno run -A --v8-flags=--expose-gc bench/integrity.ts [flags]`.
 *
 * 1. **Store and fetch throughput**, integrity on vs off, in one run: the same sealed blobs
 *    (`sealBlob`, the worker's codec) written and read back (`openBlob`), `--concurrency` in
 *    flight, on each store kind (the fs store in a temp dir, and a Ceph RGW bucket) — off: the
 *    plain store; on: the `IntegrityStore` over another one of the same kind with its pointers,
 *    intents, group commits and `blob_written` audit entries in a KV file (what `lib/datadir`
 *    opens), and the service's Merkle tree updated with every commit (`PointerAnchors`). The two alternate for `--rounds`
 *    rounds so that load from other processes hits both alike. Target: on ≥ 0.9 × off.
 *    The same through `VaultWorker` (`credStore` / `credFetch` with a cap each, in-process,
 *    no chain), which is what a client sees of the service minus HTTP. Each phase also prints
 *    this process's CPU per operation (its KV threads and its system time included; Ceph's
 *    own CPU not): where the cores are the bound, on/off throughput cannot exceed
 *    CPU(off) / CPU(on), printed as "CPU bound".
 *    Then the pointer bookkeeping alone (announce + commit, no store, a KV file on disk and one in
 *    memory, 1 and `--concurrency` writers): its CPU per write and KV transactions per write —
 *    what integrity adds to every write whatever the store.
 * 2. **Anchor over 100,000 pointers**: building the Merkle tree from scratch (what a start
 *    does) and computing the root, plus the per-write update cost. Target ≤ 1 s.
 * 3. **Memory for 100,000 pointers**: heap growth of the tree (after GC). Target ≤ 64 MiB.
 *
 * ```text
 * --ops N           blobs per round (default 2000)   --concurrency N  default 16
 * --size BYTES      plaintext per blob (default 1024) --rounds N     default 3
 * --pointers N      for 2 and 3 (default 100000)
 * --reads N         fetch passes over the blobs per round (default 3: a pass is short)
 * --stores LIST     fs,ceph (default both; ceph starts a one-node Ceph RGW, scripts/ceph)
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import process from "node:process";
import { EpochKeystore } from "../lib/signer/mod.ts";
import { type BlobStore, FsBlobStore } from "../lib/store/mod.ts";
import { ChangeCounter, KvPointerStore } from "../lib/state/mod.ts";
import { IntegrityStore, PointerAnchors, pointerLeaf, PointerTree } from "../lib/integrity/mod.ts";
import { memoryLocation, openBlob, sealBlob, VaultWorker } from "../lib/worker/mod.ts";
import { KvAuditLog, KvStateStore, KvWriteLedger, SessionDenylist } from "../lib/state/mod.ts";
import { testCapKey } from "../tests/support/caps.ts";
import { NO_CHAIN_AUTHORITY } from "../tests/support/worker_deps.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    ops: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "16" },
    size: { type: "string", default: "1024" },
    rounds: { type: "string", default: "3" },
    pointers: { type: "string", default: "100000" },
    reads: { type: "string", default: "3" },
    stores: { type: "string", default: "fs,ceph" },
  },
});
const OPS = Number(values.ops);
const CONCURRENCY = Number(values.concurrency);
const SIZE = Number(values.size);
const ROUNDS = Number(values.rounds);
const POINTERS = Number(values.pointers);
const READS = Number(values.reads);
const STORES = values.stores.split(",").map((s) => s.trim());
for (const s of STORES) {
  if (s !== "fs" && s !== "ceph") throw new Error(`--stores: fs and/or ceph, not ${s}`);
}

const dir = await Deno.makeTempDir({ prefix: "agentkeys-bench-integrity-" });
const keystore = await EpochKeystore.open({
  path: join(dir, "keystore.json"),
  sealKey: crypto.getRandomValues(new Uint8Array(32)),
});
const actor = "ab".repeat(32);

/** `pool`'s width: `--concurrency`, except where one part measures other widths. */
const CONCURRENCY_OVERRIDE = { value: CONCURRENCY };

async function pool(n: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY_OVERRIDE.value }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

const loc = (tag: string, i: number) => memoryLocation(actor, tag, `n-${i}`);

/** One phase's throughput and this process's CPU per operation. */
interface Rate {
  ops: number;
  cpuUs: number;
}

/** Runs `n` operations `CONCURRENCY` at a time. */
async function measure(n: number, work: (i: number) => Promise<void>): Promise<Rate> {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await pool(n, work);
  const used = process.cpuUsage(cpu);
  return { ops: n / ((performance.now() - t0) / 1000), cpuUs: (used.user + used.system) / n };
}

/** Stores `OPS` blobs under `tag`. */
function storePhase(store: BlobStore, tag: string): Promise<Rate> {
  const plaintext = crypto.getRandomValues(new Uint8Array(SIZE));
  return measure(OPS, async (i) => {
    await store.put(loc(tag, i).key, sealBlob(keystore, loc(tag, i), plaintext).blob);
  });
}

/** Reads the blobs of `tag` back `READS` times and opens them. */
function fetchPhase(store: BlobStore, tag: string): Promise<Rate> {
  return measure(OPS * READS, async (n) => {
    const got = await store.get(loc(tag, n % OPS).key);
    openBlob(keystore, loc(tag, n % OPS), got!.body);
  });
}

/** Per variant and phase: the mean over the rounds. */
type Phases = { store: Rate; fetch: Rate };
interface Figures {
  off: Phases;
  on: Phases;
}
const zero = (): Figures => ({
  off: { store: { ops: 0, cpuUs: 0 }, fetch: { ops: 0, cpuUs: 0 } },
  on: { store: { ops: 0, cpuUs: 0 }, fetch: { ops: 0, cpuUs: 0 } },
});
/** Adds one round's rate into the mean. */
function add(mean: Rate, r: Rate): void {
  mean.ops += r.ops / ROUNDS;
  mean.cpuUs += r.cpuUs / ROUNDS;
}

/**
 * Part 1 on one kind of store: `off` is the plain store, `on` the same kind (a second directory
 * or bucket) under `IntegrityStore` with its pointers in a fresh KV file, as lib/datadir opens it.
 */
async function throughput(
  name: string,
  off: BlobStore,
  onInner: BlobStore,
): Promise<{ raw: Figures; worker: Figures }> {
  const kvPath = join(dir, `${name}-state.kv`);
  const kv = await Deno.openKv(kvPath);
  // With the change counter beside the KV file (the pointer cache), as lib/datadir has it.
  const pointers = new KvPointerStore(kv, {
    leafOf: pointerLeaf,
    changes: ChangeCounter.open(`${kvPath}.changes`),
  });
  const on = new IntegrityStore(onInner, {
    pointers,
    epochForTag: (t) => keystore.epochForTag(t),
  });
  // And the service's Merkle tree, which every commit updates (no chain: nothing is sent).
  const anchors = new PointerAnchors({
    pointers,
    audit: new KvAuditLog(kv),
    everyMs: 60_000,
    writes: 1000,
  });
  await anchors.open();
  on.listen((p) => anchors.onCommit(p));
  const stores = { off, on };
  const raw = zero();
  for (const which of ["off", "on"] as const) {
    await storePhase(stores[which], "warm");
    await fetchPhase(stores[which], "warm");
  }
  for (let r = 0; r < ROUNDS; r++) {
    // Each round writes new keys (fresh pointers) with both, then reads them back with both;
    // which goes first alternates, so the aftermath of a write phase (KV checkpoints, dirty
    // pages) falls on both variants' reads alike.
    const order = r % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const);
    for (const w of order) add(raw[w].store, await storePhase(stores[w], `r${r}`));
    for (const w of order) add(raw[w].fetch, await fetchPhase(stores[w], `r${r}`));
  }

  // 1b: through the worker, caps and all.
  const workerState = await KvStateStore.open(join(dir, `${name}-worker.kv`));
  const workerOf = (store: BlobStore) =>
    new VaultWorker({
      store,
      keys: keystore,
      state: workerState,
      capKeys: caps.keys,
      limits: { credentials: 65536, memory: 1 << 20, inbound: 1 << 20, keyring: 1 << 20 },
      authority: NO_CHAIN_AUTHORITY,
      ledger: new KvWriteLedger(workerState.kv),
      sessions: new SessionDenylist(workerState),
    });
  const workers = { off: workerOf(off), on: workerOf(on) };
  const svc = (tag: string, which: string, i: number) => `${tag}-${which}-${i}`;
  const workerStore = async (which: "off" | "on", tag: string): Promise<Rate> => {
    const plaintext = crypto.getRandomValues(new Uint8Array(SIZE));
    const storeCaps = await Promise.all(
      Array.from({ length: OPS }, (_, i) => caps.mint({ service: svc(tag, which, i) })),
    );
    return await measure(
      OPS,
      async (i) => void await workers[which].credStore(storeCaps[i], plaintext),
    );
  };
  const workerFetch = async (which: "off" | "on", tag: string): Promise<Rate> => {
    const fetchCaps = await Promise.all(
      Array.from(
        { length: OPS },
        (_, i) => caps.mint({ op: "fetch", service: svc(tag, which, i) }),
      ),
    );
    return await measure(
      OPS * READS,
      async (n) => void await workers[which].credFetch(fetchCaps[n % OPS]),
    );
  };
  const worker = zero();
  for (const which of ["off", "on"] as const) {
    await workerStore(which, "warm");
    await workerFetch(which, "warm");
  }
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const);
    for (const w of order) add(worker[w].store, await workerStore(w, `w${r}`));
    for (const w of order) add(worker[w].fetch, await workerFetch(w, `w${r}`));
  }
  await anchors.close();
  kv.close();
  workerState.close();
  await on.close();
  await off.close();
  return { raw, worker };
}

/** Announce + commit of `OPS` new keys, `writers` at a time: CPU per write, transactions per write. */
async function bookkeeping(
  writers: number,
  memory: boolean,
): Promise<{ cpuUs: number; txPerWrite: number; perSecond: number }> {
  const path = join(dir, `bookkeeping-${writers}-${memory}.kv`);
  const kv = await Deno.openKv(memory ? ":memory:" : path);
  let transactions = 0;
  const atomic = kv.atomic.bind(kv);
  kv.atomic = () => (transactions++, atomic());
  const pointers = new KvPointerStore(kv, {
    leafOf: pointerLeaf,
    changes: ChangeCounter.open(`${path}.changes`),
  });
  const saved = CONCURRENCY_OVERRIDE.value;
  CONCURRENCY_OVERRIDE.value = writers;
  const rate = await measure(OPS, async (i) => {
    const intent = await pointers.announce({
      key: loc("bookkeeping", i).key,
      epoch: 1,
      sha256: "cd".repeat(32),
      size: SIZE + 29,
    });
    await pointers.commit(intent, "write");
  });
  CONCURRENCY_OVERRIDE.value = saved;
  kv.close();
  return { cpuUs: rate.cpuUs, txPerWrite: transactions / OPS, perSecond: rate.ops };
}
/** CPU of one bare Deno KV operation (in memory, one at a time): what any KV-backed step costs. */
async function bareKv(): Promise<{ atomicUs: number; getUs: number }> {
  const kv = await Deno.openKv(":memory:");
  const value = "v".repeat(300);
  const cpuPer = async (op: (i: number) => Promise<unknown>) => {
    const cpu = process.cpuUsage();
    for (let i = 0; i < OPS; i++) await op(i);
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / OPS;
  };
  const atomicUs = await cpuPer((i) => kv.atomic().set(["bare", i], value).commit());
  const getUs = await cpuPer((i) => kv.get(["bare", i]));
  kv.close();
  return { atomicUs, getUs };
}
await bareKv(); // warm-up: the first operations of a process pay for starting KV's thread and the JIT
const bare = await bareKv();

const books: {
  writers: number;
  memory: boolean;
  figures: Awaited<ReturnType<typeof bookkeeping>>;
}[] = [];
for (const writers of [1, CONCURRENCY]) {
  for (const memory of [false, true]) {
    books.push({ writers, memory, figures: await bookkeeping(writers, memory) });
  }
}

const caps = await testCapKey();
const results: { name: string; figures: { raw: Figures; worker: Figures } }[] = [];
for (const kind of STORES) {
  if (kind === "fs") {
    results.push({
      name: "fs store (a temp dir on the machine's disk)",
      figures: await throughput(
        "fs",
        new FsBlobStore(join(dir, "off")),
        new FsBlobStore(join(dir, "on")),
      ),
    });
  } else {
    const { startCeph, freshBucketStore } = await import("../tests/support/ceph.ts");
    const ceph = await startCeph();
    try {
      results.push({
        name: "Ceph RGW (one node on this machine, S3 over 127.0.0.1)",
        figures: await throughput(
          "ceph",
          await freshBucketStore(ceph),
          await freshBucketStore(ceph),
        ),
      });
    } finally {
      await ceph.stop();
    }
  }
}

// 2 and 3: the tree over POINTERS pointers.
const fake = (i: number) => ({
  key: `bots/${actor}/memory/bench/n-${i}.enc`,
  version: 1 + (i % 7),
  epoch: 1,
  sha256: (i * 2654435761 >>> 0).toString(16).padStart(64, "0"),
  size: 1053,
});
const gc = (globalThis as { gc?: () => void }).gc;
// Records as KV holds them: path and leaf computed at commit (KvPointerStore's leafOf).
const list = Array.from({ length: POINTERS }, (_, i) => ({ ...fake(i), ...pointerLeaf(fake(i)) }));
let t0 = performance.now();
const cold = PointerTree.from(list.map((p) => ({ ...p, path: undefined, leaf: undefined })));
const coldMs = performance.now() - t0;
if (cold.size !== POINTERS) throw new Error("cold build lost pointers");
gc?.();
const heapBefore = Deno.memoryUsage().heapUsed;
t0 = performance.now();
// CPU time too: on a shared machine the wall time includes waiting for a core.
const cpu0 = process.cpuUsage();
let tree = PointerTree.from(list);
const root = tree.rootHash();
const buildMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const buildCpuMs = (cpu.user + cpu.system) / 1000;
if (root.toHex() !== cold.rootHash().toHex()) throw new Error("roots differ");
gc?.();
const heapTree = Deno.memoryUsage().heapUsed - heapBefore;
list.length = 0;
t0 = performance.now();
const UPDATES = 10_000;
for (let i = 0; i < UPDATES; i++) tree = tree.set({ ...fake(i * 7 % POINTERS), version: 99 });
const perWriteUs = (performance.now() - t0) * 1000 / UPDATES;
if (root.length !== 32) throw new Error("no root");

const r2 = (n: number) => n.toFixed(0).padStart(8);
const ratio = (a: number, b: number) => (a / b).toFixed(2);
const row = (phase: string, f: Phases[], key: "store" | "fetch") => {
  const [off, on] = [f[0][key], f[1][key]];
  return `| ${phase} | ${r2(off.ops)} | ${r2(on.ops)} | ${ratio(on.ops, off.ops)} | ≥ 0.9 | ${
    r2(off.cpuUs)
  } | ${r2(on.cpuUs)} | ${ratio(off.cpuUs, on.cpuUs)} |`;
};
for (const { name, figures } of results) {
  console.log(
    `\nvault integrity — ${name}, ${OPS} blobs × ${ROUNDS} rounds (reads × ${READS}), ${SIZE} B plaintext, ${CONCURRENCY} in flight`,
  );
  console.log(
    "| phase | off (ops/s) | on (ops/s) | on / off | target | off CPU µs/op | on CPU µs/op | CPU bound |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  const raw = [figures.raw.off, figures.raw.on];
  const worker = [figures.worker.off, figures.worker.on];
  console.log(row("store", raw, "store"));
  console.log(row("fetch", raw, "fetch"));
  console.log(row("worker credStore", worker, "store"));
  console.log(row("worker credFetch", worker, "fetch"));
}
console.log(
  `\npointer bookkeeping alone (announce + commit of ${OPS} new keys, no store; what integrity adds to each write)`,
);
console.log(
  `one bare Deno KV operation, in memory, one at a time: atomic().set().commit() ${
    bare.atomicUs.toFixed(0)
  } µs CPU, get() ${bare.getUs.toFixed(0)} µs CPU`,
);
console.log("| writers | KV file | writes/s | CPU µs/write | KV transactions/write |");
console.log("|---|---|---|---|---|");
for (const { writers, memory, figures } of books) {
  console.log(
    `| ${writers} | ${memory ? "in memory" : "on disk"} | ${r2(figures.perSecond)} | ${
      r2(figures.cpuUs)
    } | ${figures.txPerWrite.toFixed(2)} |`,
  );
}
console.log(`\n| ${POINTERS} pointers | measured | target |`);
console.log("|---|---|---|");
console.log(
  `| tree built at start from the records (path, leaf stored) + root | ${
    buildMs.toFixed(0)
  } ms (CPU ${buildCpuMs.toFixed(0)} ms) | ≤ 1000 ms |`,
);
console.log(
  `| same, hashing every pointer too (records without path/leaf) | ${coldMs.toFixed(0)} ms | |`,
);
console.log(`| one write (path update) | ${perWriteUs.toFixed(1)} µs | O(log n) |`);
// What an anchor after a full batch of writes costs in tree work: the updates are made as the
// writes commit, and the root is then read in O(1).
console.log(
  `| tree work of an anchor after 1,000 writes (1,000 updates + root) | ${
    perWriteUs.toFixed(0)
  } ms | ≤ 1000 ms |`,
);
console.log(
  `| heap of the tree | ${(heapTree / 2 ** 20).toFixed(1)} MiB${
    gc ? "" : " (no --expose-gc: noisy)"
  } | ≤ 64 MiB |`,
);

await Deno.remove(dir, { recursive: true });
