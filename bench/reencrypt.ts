/**
 * Re-encryption throughput and memory: `deno run -A bench/reencrypt.ts [flags]`.
 *
 * For each store (the fs store in a temp dir; Ceph RGW through `startCeph()`), it writes
 * `--blobs` blobs of `--size` bytes of plaintext under epoch 1, rotates, and measures in one run:
 *
 * - **dry-run**: classify every blob from a 1-byte range read;
 * - **raw copy**: the baseline — GET + conditional PUT of the same bytes, same listing, same
 *   pool and concurrency, no crypto;
 * - **re-encrypt**: the engine moving every blob to the next epoch (write ledger on a KV file);
 *   raw copy and re-encrypt alternate for `--rounds` rounds and their summed times are compared,
 *   so load from other processes hits both alike;
 * - **re-encrypt (job)**: one more epoch through `JobRunner` (events batched into KV).
 *
 * and prints the ratio re-encrypt / raw copy (target ≥ 0.9) and whether fs re-encryption reached
 * 5,000 blobs/s. Then, on the fs store, `--big` blobs are re-encrypted by the complete headless
 * command (`deno task reencrypt`'s `main`, stdout discarded) in a child process whose peak RSS
 * (VmHWM, and `rss` sampled every 50 ms) is reported against the 256 MiB target.
 *
 * ```text
 * --stores fs,ceph   which stores (default fs,ceph)     --blobs N      default 10000
 * --size BYTES       plaintext per blob (default 1024)  --concurrency  default 16
 * --big N            blobs for the memory run (default 100000; 0 skips it)
 * --rounds N         raw-copy/re-encrypt rounds (default 2)
 * --quick            --stores fs --blobs 2000 --big 0
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { EpochKeystore } from "../lib/signer/mod.ts";
import { type BlobStore, FsBlobStore } from "../lib/store/mod.ts";
import { KvJobStore, KvWriteLedger } from "../lib/state/mod.ts";
import { drain, JobRunner, runReencrypt, scanActors } from "../lib/reencrypt/mod.ts";
import { reencryptMain } from "../lib/cli/mod.ts";
import { credentialLocation, memoryLocation, sealBlob } from "../lib/worker/mod.ts";
import { DATA_CLASSES } from "../lib/crypto/mod.ts";
import { omniToHex } from "../lib/identity/mod.ts";

const OPERATOR = "0x" + "a1".repeat(32);
const ACTORS = [OPERATOR, "0x" + "b2".repeat(32), "0x" + "c3".repeat(32)];
const TARGET_RATIO = 0.9;
const TARGET_FS_RATE = 5000;
const TARGET_RSS_MIB = 256;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    stores: { type: "string", default: "fs,ceph" },
    blobs: { type: "string", default: "10000" },
    size: { type: "string", default: "1024" },
    concurrency: { type: "string", default: "16" },
    big: { type: "string", default: "100000" },
    rounds: { type: "string", default: "2" },
    quick: { type: "boolean" },
    "child-rss": { type: "string" },
  },
});

if (values["child-rss"] !== undefined) {
  Deno.exit(await childRss(values["child-rss"]));
}

const quick = values.quick ?? false;
const stores = (quick ? "fs" : values.stores!).split(",");
const blobs = quick ? 2000 : Number(values.blobs);
const size = Number(values.size);
const concurrency = Number(values.concurrency);
const big = quick ? 0 : Number(values.big);
const rounds = Number(values.rounds);

interface Row {
  store: string;
  dry: number;
  raw: number;
  reencrypt: number;
  job: number;
  populate: number;
}

const rows: Row[] = [];
for (const kind of stores) {
  if (kind === "fs") {
    const dir = await Deno.makeTempDir({ prefix: "agentkeys-bench-" });
    try {
      rows.push(await measure("fs", new FsBlobStore(join(dir, "blobs")), dir));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } else if (kind === "ceph") {
    let ceph;
    try {
      const { startCeph, freshBucketStore } = await import("../tests/support/ceph.ts");
      ceph = await startCeph();
      const dir = await Deno.makeTempDir({ prefix: "agentkeys-bench-" });
      try {
        rows.push(await measure("ceph rgw", await freshBucketStore(ceph), dir));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    } catch (err) {
      console.error(`ceph: not measured: ${(err as Error).message.split("\n")[0]}`);
    } finally {
      await ceph?.stop();
    }
  } else {
    throw new Error(`unknown store ${kind}`);
  }
}

console.log(
  `\n## Re-encryption, ${blobs} blobs of ${size} B plaintext, concurrency ${concurrency}\n`,
);
console.log("| store | populate/s | dry-run/s | raw copy/s | re-encrypt/s | via job/s | ratio |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) {
  const ratio = r.reencrypt / r.raw;
  console.log(
    `| ${r.store} | ${r.populate} | ${r.dry} | ${r.raw} | ${r.reencrypt} | ${r.job} | ${
      ratio.toFixed(2)
    }${ratio >= TARGET_RATIO ? "" : " (MISSED ≥ 0.9)"} |`,
  );
}
const fs = rows.find((r) => r.store === "fs");
if (fs) {
  console.log(
    fs.reencrypt >= TARGET_FS_RATE
      ? `\nfs re-encryption ${fs.reencrypt}/s: target ≥ ${TARGET_FS_RATE}/s met`
      : `\nfs re-encryption ${fs.reencrypt}/s: target ≥ ${TARGET_FS_RATE}/s MISSED ` +
        `(raw copy of the same blobs: ${fs.raw}/s; see the report for what bounds it)`,
  );
}

if (big > 0) {
  const dir = await Deno.makeTempDir({ prefix: "agentkeys-bench-big-" });
  try {
    const sealKey = crypto.getRandomValues(new Uint8Array(32));
    const store = new FsBlobStore(join(dir, "blobs"));
    const keystore = await EpochKeystore.open({ path: join(dir, "signer/keystore.json"), sealKey });
    const t0 = performance.now();
    await populate(store, keystore, big);
    const populateS = (performance.now() - t0) / 1000;
    await keystore.rotate();
    await store.close();
    console.log(`\n## Memory: ${big} blobs on fs (written in ${populateS.toFixed(0)} s)\n`);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, "--child-rss", dir],
      env: { AGENTKEYS_DATA_DIR: dir, AGENTKEYS_SEAL_KEY: sealKey.toHex() },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    });
    const out = await child.output();
    const result = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    console.log("| blobs | exit | re-encrypt/s | peak rss (sampled) | VmHWM | target |");
    console.log("|---|---|---|---|---|---|");
    const hwm = result.vmhwm_mib;
    console.log(
      `| ${big} | ${out.code} | ${result.rate} | ${result.peak_rss_mib} MiB | ${hwm} MiB | ≤ ${TARGET_RSS_MIB} MiB ${
        hwm <= TARGET_RSS_MIB ? "met" : "MISSED"
      } |`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The headless command over the data dir in `dir`, measured from inside (child process). */
async function childRss(dir: string): Promise<number> {
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, Deno.memoryUsage().rss);
  }, 50);
  const t0 = performance.now();
  let lines = 0;
  const code = await reencryptMain(
    ["--operator-omni", OPERATOR, "--old-epoch", "1", "--new-epoch", "2", "--json"],
    {
      env: { AGENTKEYS_DATA_DIR: dir, AGENTKEYS_SEAL_KEY: Deno.env.get("AGENTKEYS_SEAL_KEY") },
      stdout: {
        write: (t) => {
          lines += t.split("\n").length - 1;
          return Promise.resolve();
        },
      },
      stderr: { write: () => Promise.resolve() },
      stderrIsTerminal: false,
    },
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, Deno.memoryUsage().rss);
  const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
  const hwmKb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  console.log(JSON.stringify({
    code,
    lines,
    rate: Math.round((lines - 1) / seconds),
    peak_rss_mib: Math.round(peak / 2 ** 20),
    vmhwm_mib: Math.round(hwmKb / 1024),
  }));
  return code;
}

async function measure(name: string, store: BlobStore, dir: string): Promise<Row> {
  const keystore = await EpochKeystore.open({
    path: join(dir, "signer/keystore.json"),
    sealKey: crypto.getRandomValues(new Uint8Array(32)),
  });
  const kv = await Deno.openKv(join(dir, "state.kv"));
  try {
    const t0 = performance.now();
    await populate(store, keystore, blobs);
    const populateRate = rate(blobs, t0);
    await keystore.rotate();
    const actors = { actorsOf: () => Promise.resolve(ACTORS) };
    const deps = { store, keys: keystore, actors, ledger: new KvWriteLedger(kv) };
    const params = { operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2, concurrency };

    let t = performance.now();
    const dry = await runReencrypt({ ...params, dryRun: true }, deps, () => {});
    check(dry.would_reencrypt === blobs, `dry-run saw ${dry.would_reencrypt}`);
    const dryRate = rate(blobs, t);

    // Interleaved rounds (raw copy, then re-encrypt to the next epoch) so that load from other
    // processes hits both sides alike; rates come from the summed times.
    let rawMs = 0;
    let reMs = 0;
    for (let round = 0; round < rounds; round++) {
      t = performance.now();
      await rawCopy(store);
      rawMs += performance.now() - t;
      if (round > 0) await keystore.rotate();
      const to = keystore.activeEpoch;
      t = performance.now();
      const moved = await runReencrypt(
        { ...params, oldEpoch: to - 1, newEpoch: to },
        deps,
        () => {},
      );
      reMs += performance.now() - t;
      check(moved.reencrypted === blobs && moved.state === "succeeded", JSON.stringify(moved));
    }
    const rawRate = Math.round((blobs * rounds) / (rawMs / 1000));
    const reRate = Math.round((blobs * rounds) / (reMs / 1000));

    await keystore.rotate();
    const runner = new JobRunner({ jobs: new KvJobStore(kv), engine: deps, warn: () => {} });
    t = performance.now();
    const job = await runner.start({
      operator_omni: OPERATOR,
      old_epoch: keystore.activeEpoch - 1,
      new_epoch: keystore.activeEpoch,
      concurrency,
    });
    const final = await runner.wait(job.job_id);
    check(final.counts.reencrypted === blobs, JSON.stringify(final.counts));
    const jobRate = rate(blobs, t);
    await runner.close();
    const row = {
      store: name,
      populate: populateRate,
      dry: dryRate,
      raw: rawRate,
      reencrypt: reRate,
      job: jobRate,
    };
    console.error(`${name}: ${JSON.stringify(row)}`);
    return row;
  } finally {
    kv.close();
    await store.close();
  }
}

/** GET + conditional PUT of the same bytes for every blob: the I/O of re-encryption, no crypto. */
async function rawCopy(store: BlobStore): Promise<number> {
  const t = performance.now();
  let copied = 0;
  const result = await drain({
    source: scanActors(store, ACTORS.map(omniToHex), DATA_CLASSES),
    concurrency,
    capacity: Math.max(256, concurrency * 8),
    stopped: () => false,
    work: async (item) => {
      const current = await store.get(item.key);
      await store.put(item.key, current!.body, { ifMatch: current!.etag });
      copied++;
    },
  });
  check(!result.sourceError && !result.workError && copied === blobs, `raw copy ${copied}`);
  return rate(blobs, t);
}

async function populate(store: BlobStore, keystore: EpochKeystore, n: number): Promise<void> {
  let next = 0;
  const plaintext = crypto.getRandomValues(new Uint8Array(size));
  await Promise.all(Array.from({ length: 32 }, async () => {
    for (let i = next++; i < n; i = next++) {
      const actor = omniToHex(ACTORS[i % ACTORS.length]);
      const loc = i % 2 === 0
        ? credentialLocation(actor, `svc-${i}`)
        : memoryLocation(actor, `ns-${i % 50}`, `item-${i}`);
      await store.put(loc.key, sealBlob(keystore, loc, plaintext).blob);
    }
  }));
}

function rate(count: number, since: number): number {
  return Math.round(count / ((performance.now() - since) / 1000));
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(`benchmark self-check failed: ${message}`);
}
