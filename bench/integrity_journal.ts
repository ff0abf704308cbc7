/**
 * What a group-committed pointer journal would give, measured end to end before anyone builds it:
 * `deno run -A bench/integrity_journal.ts [--ops N] [--rounds N] [--writers N]`.
 *
 * docs/DECISIONS.md ("Vault integrity") weighs replacing Deno KV on integrity's write path with an
 * append-only journal. This is a **prototype of that write path, not product code**: no second
 * process, no recovery, no checkpoint, no reads. Per write it does the least the issue allows —
 *
 * 1. hash the blob, take the key's next version from memory;
 * 2. append the intent to the journal and wait until it is durable (one `write` + `fdatasync`
 *    shared by every write queued meanwhile: group commit) — before the PUT, as the issue asks;
 * 3. PUT the blob (the fs store, as the plain writes);
 * 4. append the pointer and its `blob_written` entry (hash-chained with `entryHash`) without
 *    waiting for a sync (they ride on the next group's; a crash loses them, never the intent);
 * 5. compute the pointer's leaf and fold it into the Merkle tree with the others every 1,000
 *    writes (`PointerTree.setMany`), as the service does between anchors.
 *
 * Plain writes and journal writes alternate for `--rounds` rounds in one run; it prints both
 * rates, the ratio (target ≥ 0.9), CPU per write and the ratio the CPU allows.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { parseArgs } from "node:util";
import process from "node:process";
import { EpochKeystore } from "../lib/signer/mod.ts";
import { type BlobStore, FsBlobStore } from "../lib/store/mod.ts";
import { pointerLeaf, PointerTree } from "../lib/integrity/mod.ts";
import { entryHash } from "../lib/state/mod.ts";
import { memoryLocation, sealBlob } from "../lib/worker/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    ops: { type: "string", default: "2000" },
    rounds: { type: "string", default: "3" },
    writers: { type: "string", default: "16" },
    size: { type: "string", default: "1024" },
    "linger-ms": { type: "string", default: "0" },
  },
});
const OPS = Number(values.ops);
const ROUNDS = Number(values.rounds);
const WRITERS = Number(values.writers);
const SIZE = Number(values.size);
const FOLD_EVERY = 1000;
const LINGER_MS = Number(values["linger-ms"]);

const dir = await Deno.makeTempDir({ prefix: "agentkeys-bench-journal-" });
const keystore = await EpochKeystore.open({
  path: join(dir, "keystore.json"),
  sealKey: crypto.getRandomValues(new Uint8Array(32)),
});
const actor = "ab".repeat(32);
const loc = (tag: string, i: number) => memoryLocation(actor, tag, `n-${i}`);
const plaintext = crypto.getRandomValues(new Uint8Array(SIZE));
const encoder = new TextEncoder();

/** Appends lines; every append queued while a write is under way goes out in the next one. */
class Journal {
  #queue: { bytes: string; durable: boolean; done: () => void }[] = [];
  #busy = false;
  groups = 0;
  syncs = 0;

  private constructor(readonly file: Deno.FsFile) {}

  static async open(path: string): Promise<Journal> {
    return new Journal(await Deno.open(path, { create: true, append: true }));
  }

  /** Resolves once written (and synced to disk when `durable`). */
  append(lines: string, durable: boolean): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#queue.push({ bytes: lines, durable, done: resolve });
    if (!this.#busy) void this.#drain();
    return promise;
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    if (LINGER_MS > 0) await new Promise((r) => setTimeout(r, LINGER_MS));
    while (this.#queue.length > 0) {
      const group = this.#queue;
      this.#queue = [];
      const bytes = encoder.encode(group.map((g) => g.bytes).join(""));
      let off = 0;
      while (off < bytes.length) off += await this.file.write(bytes.subarray(off));
      this.groups++;
      if (group.some((g) => g.durable)) {
        await this.file.syncData();
        this.syncs++;
      }
      for (const g of group) g.done();
    }
    this.#busy = false;
  }
}

/** The prototype write path over `inner`. */
class JournalStore {
  readonly #versions = new Map<string, number>();
  #seq = 0;
  #auditHead = "0".repeat(64);
  #tree = PointerTree.empty();
  #unfolded: ReturnType<typeof leafed>[] = [];

  constructor(readonly inner: BlobStore, readonly journal: Journal) {}

  async put(key: string, body: Uint8Array): Promise<void> {
    const sha256 = createHash("sha256").update(body).digest("hex");
    const version = (this.#versions.get(key) ?? 0) + 1;
    this.#versions.set(key, version);
    const at = new Date().toISOString();
    const intent = { t: "intent", key, version, epoch: 1, sha256, size: body.length, at };
    await this.journal.append(`${JSON.stringify(intent)}\n`, true);
    await this.inner.put(key, body);
    const seq = ++this.#seq;
    const pointer = leafed({
      key,
      epoch: 1,
      version,
      sha256,
      size: body.length,
      written_at: at,
      seq,
    });
    const audit = {
      seq,
      at,
      kind: "blob_written",
      data: { key, version, seq, sha256, size: body.length, epoch: 1 },
      prev: this.#auditHead,
    };
    this.#auditHead = entryHash(audit);
    const commit = { t: "commit", ...pointer };
    const entry = { t: "audit", ...audit, hash: this.#auditHead };
    const written = this.journal.append(
      `${JSON.stringify(commit)}\n${JSON.stringify(entry)}\n`,
      false,
    );
    this.#unfolded.push(pointer);
    if (this.#unfolded.length >= FOLD_EVERY) this.fold();
    await written;
  }

  /** Folds the queued pointers into the tree and reads the root (what an anchor does). */
  fold(): Uint8Array {
    this.#tree = this.#tree.setMany(this.#unfolded);
    this.#unfolded = [];
    return this.#tree.rootHash();
  }
}
function leafed<P extends Parameters<typeof pointerLeaf>[0]>(p: P) {
  return { ...p, ...pointerLeaf(p) };
}

interface Rate {
  ops: number;
  cpuUs: number;
  /** The kernel's part (system time): the syscalls, fsyncs among them. */
  sysUs: number;
}
async function measure(
  tag: string,
  put: (key: string, blob: Uint8Array) => Promise<void>,
): Promise<Rate> {
  let next = 0;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: WRITERS }, async () => {
    while (next < OPS) {
      const i = next++;
      await put(loc(tag, i).key, sealBlob(keystore, loc(tag, i), plaintext).blob);
    }
  }));
  const used = process.cpuUsage(cpu);
  return {
    ops: OPS / ((performance.now() - t0) / 1000),
    cpuUs: (used.user + used.system) / OPS,
    sysUs: used.system / OPS,
  };
}

const plain = new FsBlobStore(join(dir, "plain"));
const journal = await Journal.open(join(dir, "pointers.journal"));
const prototype = new JournalStore(new FsBlobStore(join(dir, "journal")), journal);
const variants = {
  plain: (key: string, blob: Uint8Array) => plain.put(key, blob).then(() => {}),
  journal: (key: string, blob: Uint8Array) => prototype.put(key, blob),
};
await measure("warm", variants.plain);
await measure("warm", variants.journal);
const mean: Record<keyof typeof variants, Rate> = {
  plain: { ops: 0, cpuUs: 0, sysUs: 0 },
  journal: { ops: 0, cpuUs: 0, sysUs: 0 },
};
const groupsBefore = journal.groups;
const syncsBefore = journal.syncs;
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? (["plain", "journal"] as const) : (["journal", "plain"] as const);
  for (const which of order) {
    const rate = await measure(`r${r}`, variants[which]);
    mean[which].ops += rate.ops / ROUNDS;
    mean[which].cpuUs += rate.cpuUs / ROUNDS;
    mean[which].sysUs += rate.sysUs / ROUNDS;
  }
}
prototype.fold();

const n = (x: number) => x.toFixed(0).padStart(7);
console.log(
  `\npointer journal prototype — ${OPS} writes × ${ROUNDS} rounds, ${SIZE} B plaintext, ` +
    `${WRITERS} in flight, fs store`,
);
console.log("| variant | writes/s | CPU µs/write | of which kernel |");
console.log("|---|---|---|---|");
for (
  const [name, r] of [["plain store", mean.plain], ["journal prototype", mean.journal]] as const
) {
  console.log(`| ${name} | ${n(r.ops)} | ${n(r.cpuUs)} | ${n(r.sysUs)} |`);
}
console.log(
  `\non / off ${(mean.journal.ops / mean.plain.ops).toFixed(2)} (target ≥ 0.9); CPU bound ${
    (mean.plain.cpuUs / mean.journal.cpuUs).toFixed(2)
  }; journal writes per blob ${((journal.groups - groupsBefore) / (OPS * ROUNDS)).toFixed(2)}, ` +
    `fdatasyncs per blob ${((journal.syncs - syncsBefore) / (OPS * ROUNDS)).toFixed(2)}`,
);

journal.file.close();
await plain.close();
await prototype.inner.close();
await Deno.remove(dir, { recursive: true });
