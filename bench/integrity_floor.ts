/**
 * The floor under integrity's cost per write on this machine, against the budget the ≥ 0.9
 * throughput target leaves: `deno run -A bench/integrity_floor.ts [--pointers N] [--writers N]`.
 *
 * Where the cores are the bound (bench/integrity.ts shows the store ratio tracking
 * CPU(off) / CPU(on)), integrity-on writes reach 0.9 of plain writes only if everything
 * integrity adds costs at most `CPU(plain write) × (1/0.9 − 1)` of CPU. This measures, in one
 * run, the plain write and each step integrity cannot skip, each in its cheapest form:
 *
 * - the SHA-256 of the blob (a checked read compares with it);
 * - the pointer's Merkle path and leaf (`pointerLeaf`) and its share of a batched tree update
 *   (`PointerTree.setMany` of 1,000 writes over `--pointers` pointers: the O(log n) commitment);
 * - the `blob_written` audit entry's hash (`entryHash`, the hash chain);
 * - making the intent (durable before the PUT: the crash safety), the pointer and its
 *   audit entry durable, two ways:
 *   - as designed (ARCHITECTURE §9, §13: all in Deno KV): three `set`s inside a 498-mutation
 *     atomic on a KV file on disk — larger batches do not get cheaper; the real write path also
 *     pays the version counter, the change entry, the intent's removal, transactions and reads,
 *     none counted here;
 *   - an append-only journal instead: the three records serialized, and `--writers` writes
 *     sharing one `write` + `fdatasync` (the most a group commit could share with that many in
 *     flight); the commit's records ride on the next group's sync.
 *
 * It prints each cost, the two floors, and the best on/off ratio each floor allows. Figures are
 * CPU time of this process (its KV threads and the kernel's work for it included).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { parseArgs } from "node:util";
import process from "node:process";
import { FsBlobStore } from "../lib/store/mod.ts";
import { pointerLeaf, PointerTree } from "../lib/integrity/mod.ts";
import type { BlobPointer } from "../lib/state/mod.ts";
import { entryHash } from "../lib/state/mod.ts";
import { benchBlobs } from "./_writes.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    ops: { type: "string", default: "3000" },
    writers: { type: "string", default: "16" },
    size: { type: "string", default: "1024" },
    pointers: { type: "string", default: "100000" },
  },
});
const OPS = Number(values.ops);
const WRITERS = Number(values.writers);
const SIZE = Number(values.size);
const POINTERS = Number(values.pointers);
const TARGET = 0.9;

const bench = await benchBlobs("agentkeys-bench-floor-", SIZE);
const { dir } = bench;
const blob = bench.blob("x", 0).blob;

const cpuNow = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
/** CPU µs per unit of `units` units of work done by `work`. */
async function cpuPer(units: number, work: () => Promise<void> | void): Promise<number> {
  const c0 = cpuNow();
  await work();
  return (cpuNow() - c0) / units;
}

/** A pointer as KvPointerStore records it (with its path and leaf). */
function pointer(i: number, version = 1): BlobPointer {
  const p = {
    key: bench.blob("floor", i).key,
    epoch: 1,
    version,
    sha256: createHash("sha256").update(`${i}/${version}`).digest("hex"),
    size: blob.length,
    written_at: new Date().toISOString(),
    seq: i,
  };
  return { ...p, ...pointerLeaf(p) };
}
function intentOf(p: BlobPointer) {
  const { key, version, epoch, sha256, size, written_at: at } = p;
  return { key, version, epoch, sha256, size, at };
}
function auditBody(p: BlobPointer, prev: string) {
  return {
    seq: p.seq,
    at: p.written_at,
    kind: "blob_written",
    data: { key: p.key, version: p.version, seq: p.seq, sha256: p.sha256, size: p.size, epoch: 1 },
    prev,
  };
}

// 1. The plain write: the fs store, `WRITERS` in flight (what bench/integrity.ts calls "off").
const plain = new FsBlobStore(join(dir, "plain"));
const put = (key: string, bytes: Uint8Array) => plain.put(key, bytes);
await bench.writes("warm", put, OPS, WRITERS);
const plainUs = (await bench.writes("measured", put, OPS, WRITERS)).cpuUs;
// Sealing is in the plain write too; it is not integrity's.
const budgetUs = plainUs * (1 / TARGET - 1);

// 2. The blob's SHA-256.
const blobHashUs = await cpuPer(20 * OPS, () => {
  for (let i = 0; i < 20 * OPS; i++) createHash("sha256").update(blob).digest("hex");
});

// 3. Leaf and tree: a tree of POINTERS, then batches of 1,000 new versions. Timed: the leaf
// (`pointerLeaf`, at commit) and the batched update with the root; not the bench's own records.
let tree = PointerTree.from(Array.from({ length: POINTERS }, (_, i) => pointer(i)));
const BATCH = 1000;
const treeRounds = Math.max(1, Math.ceil(OPS / BATCH));
const batches = Array.from(
  { length: treeRounds },
  (_, r) =>
    Array.from({ length: BATCH }, (_, j) => {
      const { path: _p, leaf: _l, ...fields } = pointer((r * BATCH + j) * 7919 % POINTERS, 2 + r);
      return fields;
    }),
);
const treeUs = await cpuPer(treeRounds * BATCH, () => {
  for (const batch of batches) {
    tree = tree.setMany(batch.map((p) => ({ ...p, ...pointerLeaf(p) })));
    tree.rootHash();
  }
});

// 4. The audit entry's hash.
const samples = Array.from({ length: OPS }, (_, i) => pointer(i));
const auditHashUs = await cpuPer(OPS, () => {
  let prev = "00".repeat(32);
  for (const p of samples) prev = entryHash(auditBody(p, prev));
});

// 5a. Deno KV on disk: intent, pointer and audit entry, 498 mutations per atomic.
const kv = await Deno.openKv(join(dir, "floor.kv"));
const kvSetUs = await cpuPer(3 * OPS, async () => {
  for (let i = 0; i < OPS; i += 166) {
    const op = kv.atomic();
    for (const p of samples.slice(i, i + 166)) {
      const body = auditBody(p, "00".repeat(32));
      op.set(["integrity", "intent", p.key, p.version], intentOf(p))
        .set(["integrity", "ptr", p.key], p)
        .set(["audit", p.seq], { ...body, hash: "11".repeat(32) });
    }
    await op.commit();
  }
});
kv.close();

// 5b. A journal: the three records serialized; one write + fdatasync shared by WRITERS writes.
const encoder = new TextEncoder();
const serializeUs = await cpuPer(OPS, () => {
  for (const p of samples) {
    const audit = auditBody(p, "00".repeat(32));
    encoder.encode(
      `${JSON.stringify(intentOf(p))}\n${JSON.stringify(p)}\n${JSON.stringify(audit)}\n`,
    );
  }
});
const journal = await Deno.open(join(dir, "journal"), { create: true, append: true });
const groupBytes = encoder.encode(
  samples.slice(0, WRITERS).map((p) => JSON.stringify(p) + "\n").join(""),
);
const GROUPS = Math.max(50, Math.floor(OPS / WRITERS));
const syncUs = await cpuPer(GROUPS, async () => {
  for (let g = 0; g < GROUPS; g++) {
    let off = 0;
    while (off < groupBytes.length) off += await journal.write(groupBytes.subarray(off));
    await journal.syncData();
  }
});
journal.close();

const common = blobHashUs + treeUs + auditHashUs;
const kvFloor = common + 3 * kvSetUs;
const journalFloor = common + serializeUs + syncUs / WRITERS;
const best = (floor: number) => (plainUs / (plainUs + floor)).toFixed(2);
const us = (n: number) => n.toFixed(1).padStart(7);

console.log(
  `\nintegrity's floor per write — ${OPS} writes of ${SIZE} B plaintext, ${WRITERS} in flight, ` +
    `a tree of ${POINTERS} pointers (CPU µs of this process)`,
);
console.log("| step | CPU µs/write |");
console.log("|---|---|");
console.log(`| plain write (fs store; sealing included) | ${us(plainUs)} |`);
console.log(`| **budget** for all integrity adds at on/off ≥ ${TARGET} | ${us(budgetUs)} |`);
console.log(`| SHA-256 of the blob | ${us(blobHashUs)} |`);
console.log(
  `| pointer leaf + share of a tree update (setMany of ${BATCH} + root) | ${us(treeUs)} |`,
);
console.log(`| audit entry hash (entryHash) | ${us(auditHashUs)} |`);
console.log(
  `| Deno KV set, on disk, 498 per atomic (× 3: intent, pointer, audit entry) | ${us(kvSetUs)} |`,
);
console.log(`| journal: serialize intent, pointer, audit entry | ${us(serializeUs)} |`);
console.log(
  `| journal: one write + fdatasync (per call; shared by ${WRITERS}) | ${us(syncUs)} |`,
);
console.log(`\n| floor | CPU µs/write | best on/off it allows | target |`);
console.log("|---|---|---|---|");
console.log(
  `| as designed: intent, pointer, audit entry in Deno KV | ${us(kvFloor)} | ${
    best(kvFloor)
  } | ≥ ${TARGET} |`,
);
console.log(
  `| a group-committed journal, no KV on the write path | ${us(journalFloor)} | ${
    best(journalFloor)
  } | ≥ ${TARGET} |`,
);

await plain.close();
await Deno.remove(dir, { recursive: true });
