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
 * A second variant drops the durable intent, the one step that needs an `fdatasync` of its own
 * per group: each stored blob carries a **write receipt** instead (an HMAC over key, version and
 * the hash of the bytes, appended to them), so that a read finding bytes newer than their pointer
 * could tell a write whose commit was lost (a valid receipt for a higher version) from a rollback
 * or forgery without any record made before the PUT. Its pointer and audit entry are appended as
 * above.
 *
 * The variants take turns for `--rounds` rounds in one run; it prints their rates, each ratio to
 * plain writes (target ≥ 0.9), CPU per write and the ratio the CPU allows.
 *
 * @module
 */

import { createHash, createHmac } from "node:crypto";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type BlobStore, FsBlobStore } from "../lib/store/mod.ts";
import { pointerLeaf, PointerTree } from "../lib/integrity/mod.ts";
import { entryHash } from "../lib/state/mod.ts";
import { benchBlobs, type WriteRate } from "./_writes.ts";

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

const bench = await benchBlobs("agentkeys-bench-journal-", SIZE);
const { dir } = bench;
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

  /** `receiptKey`: write receipts instead of durable intents. */
  constructor(
    readonly inner: BlobStore,
    readonly journal: Journal,
    readonly receiptKey?: Uint8Array,
  ) {}

  async put(key: string, blob: Uint8Array): Promise<void> {
    const version = (this.#versions.get(key) ?? 0) + 1;
    this.#versions.set(key, version);
    const at = new Date().toISOString();
    let body = blob;
    if (this.receiptKey) {
      const receipt = createHmac("sha256", this.receiptKey)
        .update(`${key}|${version}|${createHash("sha256").update(blob).digest("hex")}`)
        .digest();
      body = new Uint8Array(blob.length + 8 + 32);
      body.set(blob);
      new DataView(body.buffer).setBigUint64(blob.length, BigInt(version));
      body.set(receipt, blob.length + 8);
    }
    const sha256 = createHash("sha256").update(body).digest("hex");
    if (!this.receiptKey) {
      const intent = { t: "intent", key, version, epoch: 1, sha256, size: body.length, at };
      await this.journal.append(`${JSON.stringify(intent)}\n`, true);
    }
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

const measure = (tag: string, put: (key: string, blob: Uint8Array) => Promise<unknown>) =>
  bench.writes(tag, put, OPS, WRITERS);

const plain = new FsBlobStore(join(dir, "plain"));
const journal = await Journal.open(join(dir, "pointers.journal"));
const prototype = new JournalStore(new FsBlobStore(join(dir, "journal")), journal);
const receiptJournal = await Journal.open(join(dir, "receipts.journal"));
const receipts = new JournalStore(
  new FsBlobStore(join(dir, "receipts")),
  receiptJournal,
  crypto.getRandomValues(new Uint8Array(32)),
);
const variants = {
  plain: (key: string, blob: Uint8Array) => plain.put(key, blob),
  journal: (key: string, blob: Uint8Array) => prototype.put(key, blob),
  receipts: (key: string, blob: Uint8Array) => receipts.put(key, blob),
};
type Variant = keyof typeof variants;
const names = Object.keys(variants) as Variant[];
for (const which of names) await measure("warm", variants[which]);
const mean = Object.fromEntries(
  names.map((v) => [v, { ops: 0, cpuUs: 0, sysUs: 0 }]),
) as Record<Variant, WriteRate>;
const counts = (j: Journal) => ({ groups: j.groups, syncs: j.syncs });
const before = { journal: counts(journal), receipts: counts(receiptJournal) };
for (let r = 0; r < ROUNDS; r++) {
  // Each variant goes first in turn, so that the aftermath of one falls on all alike.
  const order = names.map((_, i) => names[(i + r) % names.length]);
  for (const which of order) {
    const rate = await measure(`r${r}`, variants[which]);
    mean[which].ops += rate.ops / ROUNDS;
    mean[which].cpuUs += rate.cpuUs / ROUNDS;
    mean[which].sysUs += rate.sysUs / ROUNDS;
  }
}
prototype.fold();
receipts.fold();

const n = (x: number) => x.toFixed(0).padStart(7);
console.log(
  `\npointer journal prototype — ${OPS} writes × ${ROUNDS} rounds, ${SIZE} B plaintext, ` +
    `${WRITERS} in flight, fs store`,
);
console.log(
  "| variant | writes/s | on / off (target ≥ 0.9) | CPU µs/write | of which kernel | CPU bound | journal writes / fdatasyncs per blob |",
);
console.log("|---|---|---|---|---|---|---|");
const per = (j: Journal, b: { groups: number; syncs: number }) =>
  `${((j.groups - b.groups) / (OPS * ROUNDS)).toFixed(2)} / ${
    ((j.syncs - b.syncs) / (OPS * ROUNDS)).toFixed(2)
  }`;
const rows: [string, WriteRate, string][] = [
  ["plain store", mean.plain, "–"],
  ["journal, durable intent", mean.journal, per(journal, before.journal)],
  ["journal, write receipts", mean.receipts, per(receiptJournal, before.receipts)],
];
for (const [name, r, io] of rows) {
  console.log(
    `| ${name} | ${n(r.ops)} | ${(r.ops / mean.plain.ops).toFixed(2)} | ${n(r.cpuUs)} | ${
      n(r.sysUs)
    } | ${(mean.plain.cpuUs / r.cpuUs).toFixed(2)} | ${io} |`,
  );
}

journal.file.close();
receiptJournal.file.close();
await plain.close();
await prototype.inner.close();
await receipts.inner.close();
await Deno.remove(dir, { recursive: true });
