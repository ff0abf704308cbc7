/**
 * `PointerTree.setMany` (batched updates, what the anchor service folds commits with) builds the
 * same tree as one `set` per pointer: same root, same size, proofs that fold to the root.
 *
 * @module
 */

import { assertEquals } from "../support/assert.ts";
import { foldProof, pointerLeaf, PointerTree } from "../../lib/integrity/mod.ts";

const hex = (b: Uint8Array) => b.toHex();

/** A deterministic pseudo-random sequence (tests must not depend on luck). */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (x * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

const pointer = (key: string, version: number) => ({
  key,
  version,
  epoch: 1,
  sha256: version.toString(16).padStart(64, "0"),
  size: 100 + version,
});

Deno.test("PointerTree.setMany: the same root, size and proofs as one set per pointer, with replacements and duplicates in a batch", () => {
  const next = rng(7);
  let one = PointerTree.empty();
  let many = PointerTree.empty();
  const versions = new Map<string, number>();
  for (let round = 0; round < 30; round++) {
    const batch = [];
    const n = 1 + Math.floor(next() * 40);
    for (let i = 0; i < n; i++) {
      // A small key space: batches replace keys of earlier batches and repeat keys within one.
      const key = `bots/${"ab".repeat(32)}/memory/ns/k-${Math.floor(next() * 120)}.enc`;
      const version = (versions.get(key) ?? 0) + 1;
      versions.set(key, version);
      const p = pointer(key, version);
      // Half the pointers carry their stored path and leaf, as KV records do.
      batch.push(next() < 0.5 ? { ...p, ...pointerLeaf(p) } : p);
    }
    for (const p of batch) one = one.set(p);
    many = many.setMany(batch);
    assertEquals(hex(many.rootHash()), hex(one.rootHash()), `root after round ${round}`);
    assertEquals(many.size, one.size);
  }
  assertEquals(many.size, versions.size);
  for (const key of versions.keys()) {
    const proof = many.prove(key)!;
    assertEquals(hex(foldProof(key, proof.leaf, proof.siblings)), hex(many.rootHash()));
  }
});

Deno.test("PointerTree.setMany: an empty batch changes nothing; a batch into an empty tree equals from()", () => {
  const list = Array.from({ length: 50 }, (_, i) => pointer(`k-${i}`, 1));
  const built = PointerTree.from(list);
  const batched = PointerTree.empty().setMany(list);
  assertEquals(hex(batched.rootHash()), hex(built.rootHash()));
  assertEquals(batched.size, 50);
  const same = batched.setMany([]);
  assertEquals(hex(same.rootHash()), hex(built.rootHash()));
  assertEquals(same.size, 50);
});
