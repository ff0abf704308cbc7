/**
 * The Merkle commitment over all current pointers: a compact sparse Merkle tree keyed by
 * `sha256(blob key)` (pure; no I/O). The exact hashing, for independent verifiers
 * (docs/INTEGRITY.md repeats it):
 *
 * ```text
 * path(key)      = SHA-256(UTF-8 key)                      256 bits, most significant bit first
 * value(ptr)     = SHA-256(UTF-8 "agentkeys.pointer.v1|" ‖ key ‖ "|" ‖ version ‖ "|" ‖ epoch
 *                           ‖ "|" ‖ sha256 ‖ "|" ‖ size)   (decimal numbers; epoch "-" when
 *                                                          unknown; sha256 lowercase hex, or
 *                                                          "deleted" for a tombstone)
 * leaf           = SHA-256(0x00 ‖ path ‖ value)
 * node(l, r)     = SHA-256(0x01 ‖ l ‖ r)
 * empty subtree  = 32 zero bytes; a subtree holding exactly one leaf hashes to that leaf
 * root           = the hash of the whole tree (32 zero bytes when there is no pointer)
 * ```
 *
 * A proof lists the sibling hashes from the root down to the leaf: `siblings[d]` is the sibling
 * at depth `d`. Verify by folding from the leaf up: for `d` from the last index to 0, with `b`
 * the `d`-th bit of the path, `h = b ? node(siblings[d], h) : node(h, siblings[d])`.
 *
 * Nodes are immutable (path copying), so a root kept at an anchor still proves its leaves while
 * newer writes build new roots; each write costs O(depth) = O(log n) hashes.
 *
 * @module
 */

import { createHash } from "node:crypto";

export const EMPTY = new Uint8Array(32);
const LEAF_TAG = new Uint8Array([0]);
const encoder = new TextEncoder();

interface Leaf {
  readonly path: Uint8Array;
  readonly hash: Uint8Array;
}
interface Inner {
  readonly left: Node | null;
  readonly right: Node | null;
  readonly hash: Uint8Array;
}
/** A tree node; `null` is an empty subtree. */
export type Node = Leaf | Inner;

/**
 * SHA-256 as node:crypto's digest Buffer, kept as it is: small Buffers share pooled memory, so a
 * node costs one view, not one view plus its own ArrayBuffer (about half the heap per node).
 */
function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The fields of a pointer that the commitment covers. */
export interface PointerFields {
  key: string;
  version: number;
  epoch: number | null;
  sha256: string | null;
  size: number;
}

/** `path(key)`. */
export function keyPath(key: string): Uint8Array {
  return sha256(encoder.encode(key));
}

/** `leaf` of a pointer: what the tree stores for it. */
export function leafHash(p: PointerFields): Uint8Array {
  return leafFromPath(keyPath(p.key), p);
}

/**
 * Hex of `path(key)` and `leaf(pointer)`, stored with each pointer record (KvPointerStore's
 * `leafOf`) so that a start and every tree update reuse them instead of hashing again.
 */
export function pointerLeaf(p: PointerFields): { path: string; leaf: string } {
  const path = keyPath(p.key);
  return { path: path.toHex(), leaf: leafFromPath(path, p).toHex() };
}

function leafFromPath(path: Uint8Array, p: PointerFields): Uint8Array {
  const value = sha256(
    encoder.encode(
      `agentkeys.pointer.v1|${p.key}|${p.version}|${p.epoch ?? "-"}|${
        p.sha256 ?? "deleted"
      }|${p.size}`,
    ),
  );
  return sha256(LEAF_TAG, path, value);
}

/** `node(l, r)`. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  // One update of a reused 65-byte buffer: node hashing is most of a start's work.
  NODE_INPUT.set(left, 1);
  NODE_INPUT.set(right, 33);
  return createHash("sha256").update(NODE_INPUT).digest();
}
/** `0x01 ‖ l ‖ r`: the node tag stays, the halves are overwritten per call. */
const NODE_INPUT = new Uint8Array(65);
NODE_INPUT[0] = 1;

function bit(path: Uint8Array, depth: number): number {
  return (path[depth >> 3] >> (7 - (depth & 7))) & 1;
}

function isLeaf(node: Node): node is Leaf {
  return (node as Leaf).path !== undefined;
}

function inner(left: Node | null, right: Node | null): Inner {
  return { left, right, hash: nodeHash(left?.hash ?? EMPTY, right?.hash ?? EMPTY) };
}

function samePath(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false;
  return true;
}

function split(a: Leaf, b: Leaf, depth: number): Inner {
  const ba = bit(a.path, depth);
  const bb = bit(b.path, depth);
  if (ba !== bb) return ba === 0 ? inner(a, b) : inner(b, a);
  const child = split(a, b, depth + 1);
  return ba === 0 ? inner(child, null) : inner(null, child);
}

/** Set by {@linkcode insert}: whether the leaf was new (not a replacement). */
let inserted = false;

function insert(node: Node | null, leaf: Leaf, depth: number): Node {
  if (node === null) {
    inserted = true;
    return leaf;
  }
  if (isLeaf(node)) {
    if (samePath(node.path, leaf.path)) return leaf;
    inserted = true;
    return split(node, leaf, depth);
  }
  return bit(leaf.path, depth) === 0
    ? inner(insert(node.left, leaf, depth + 1), node.right)
    : inner(node.left, insert(node.right, leaf, depth + 1));
}

/**
 * 32-byte views into 1 MiB chunks, for the bulk build at start: one view per hash instead of a
 * view plus its own ArrayBuffer, which halves the heap of a large tree. Only the build uses it
 * (its size is bounded by the tree's); later writes allocate per node, so a replaced node's
 * memory is reclaimed with it.
 */
class Slab {
  #chunk = new Uint8Array(0);
  #off = 0;
  take(bytes: Uint8Array): Uint8Array {
    if (this.#off + 32 > this.#chunk.length) {
      this.#chunk = new Uint8Array(1 << 20);
      this.#off = 0;
    }
    const view = this.#chunk.subarray(this.#off, this.#off + 32);
    this.#off += 32;
    view.set(bytes);
    return view;
  }
  fromHex(hex: string): Uint8Array {
    if (this.#off + 32 > this.#chunk.length) {
      this.#chunk = new Uint8Array(1 << 20);
      this.#off = 0;
    }
    const view = this.#chunk.subarray(this.#off, this.#off + 32);
    this.#off += 32;
    view.setFromHex(hex);
    return view;
  }
}

/**
 * Puts the leaves of `leaves[lo..hi)` whose bit at `depth` is 0 first (in place, no copies);
 * returns where the 1s start.
 */
function partition(leaves: Leaf[], lo: number, hi: number, depth: number): number {
  let i = lo;
  let j = hi - 1;
  while (i <= j) {
    if (bit(leaves[i].path, depth) === 0) i++;
    else {
      const t = leaves[i];
      leaves[i] = leaves[j];
      leaves[j--] = t;
    }
  }
  return i;
}

/** Keeps a node's hash as it is (updates: a replaced node's memory goes with it). */
const OWN = { take: (bytes: Uint8Array) => bytes };

/** The subtree of `leaves[lo..hi)`, partitioned in place by the bit at `depth` (no copies). */
function build(
  leaves: Leaf[],
  lo: number,
  hi: number,
  depth: number,
  slab: Pick<Slab, "take">,
): Node | null {
  if (hi - lo === 0) return null;
  if (hi - lo === 1) return leaves[lo];
  const i = partition(leaves, lo, hi, depth);
  const l = build(leaves, lo, i, depth + 1, slab);
  const r = build(leaves, i, hi, depth + 1, slab);
  return { left: l, right: r, hash: slab.take(nodeHash(l?.hash ?? EMPTY, r?.hash ?? EMPTY)) };
}

/** Leaves of `leaves[lo..hi)` that were not in `node` before (set by {@linkcode insertMany}). */
let added = 0;

/**
 * `node` with every leaf of `leaves[lo..hi)` set (paths distinct): each inner node on the way
 * is hashed once for the whole batch, not once per leaf below it.
 */
function insertMany(
  node: Node | null,
  leaves: Leaf[],
  lo: number,
  hi: number,
  depth: number,
): Node | null {
  if (lo === hi) return node;
  if (node === null) {
    added += hi - lo;
    return build(leaves, lo, hi, depth, OWN);
  }
  if (isLeaf(node)) {
    const batch = leaves.slice(lo, hi);
    const replaced = batch.some((l) => samePath(l.path, node.path));
    if (!replaced) batch.push(node);
    added += hi - lo - (replaced ? 1 : 0);
    return build(batch, 0, batch.length, depth, OWN);
  }
  const i = partition(leaves, lo, hi, depth);
  return inner(
    insertMany(node.left, leaves, lo, i, depth + 1),
    insertMany(node.right, leaves, i, hi, depth + 1),
  );
}

/**
 * An immutable snapshot of the tree: its root and a membership proof for any key.
 *
 * ```ts
 * let tree = PointerTree.from([pointerA, pointerB]);
 * tree = tree.set(pointerC);           // a new snapshot; the old one is unchanged
 * const { siblings } = tree.prove("bots/…/credentials/x.enc")!;
 * ```
 */
export class PointerTree {
  private constructor(readonly root: Node | null, readonly size: number) {}

  static empty(): PointerTree {
    return new PointerTree(null, 0);
  }

  /** Builds the tree over many pointers at once (O(n) hashes, for a start). */
  static from(pointers: Iterable<PointerFields & { path?: string; leaf?: string }>): PointerTree {
    const slab = new Slab();
    const byPath = new Map<string, Leaf>();
    for (const p of pointers) {
      // Pointer records carry their path and leaf (computed once, at commit): no hashing here.
      const path = p.path ? slab.fromHex(p.path) : slab.take(keyPath(p.key));
      const hash = p.leaf ? slab.fromHex(p.leaf) : slab.take(leafFromPath(path, p));
      byPath.set(p.key, { path, hash });
    }
    const leaves = [...byPath.values()];
    return new PointerTree(build(leaves, 0, leaves.length, 0, slab), leaves.length);
  }

  /** The 32-byte root. */
  rootHash(): Uint8Array {
    return this.root?.hash ?? EMPTY;
  }

  /** A snapshot with `pointer` set (added or replaced). */
  set(pointer: PointerFields & { path?: string; leaf?: string }): PointerTree {
    const path = pointer.path ? Uint8Array.fromHex(pointer.path) : keyPath(pointer.key);
    const hash = pointer.leaf ? Uint8Array.fromHex(pointer.leaf) : leafFromPath(path, pointer);
    inserted = false;
    const root = insert(this.root, { path, hash }, 0);
    return new PointerTree(root, this.size + (inserted ? 1 : 0));
  }

  /**
   * A snapshot with every pointer of `pointers` set, later ones winning for the same key: the
   * same tree as calling {@linkcode set} for each, with each changed inner node hashed once.
   */
  setMany(pointers: Iterable<PointerFields & { path?: string; leaf?: string }>): PointerTree {
    const byKey = new Map<string, Leaf>();
    for (const p of pointers) {
      const path = p.path ? Uint8Array.fromHex(p.path) : keyPath(p.key);
      byKey.set(p.key, { path, hash: p.leaf ? Uint8Array.fromHex(p.leaf) : leafFromPath(path, p) });
    }
    const leaves = [...byKey.values()];
    added = 0;
    const root = insertMany(this.root, leaves, 0, leaves.length, 0);
    return new PointerTree(root, this.size + added);
  }

  /** The leaf and siblings root → leaf for `key`, or `null` when the key has no pointer. */
  prove(key: string): { leaf: Uint8Array; siblings: Uint8Array[] } | null {
    const path = keyPath(key);
    const siblings: Uint8Array[] = [];
    let node = this.root;
    for (let depth = 0; node !== null; depth++) {
      if (isLeaf(node)) {
        return samePath(node.path, path) ? { leaf: node.hash, siblings } : null;
      }
      const b = bit(path, depth);
      siblings.push((b === 0 ? node.right : node.left)?.hash ?? EMPTY);
      node = b === 0 ? node.left : node.right;
    }
    return null;
  }
}

/**
 * Recomputes a root from a leaf, its key and its siblings (what an independent verifier does).
 *
 * ```ts
 * equalBytes(foldProof(key, leafHash(ptr), siblings), anchoredRoot); // true when proven
 * ```
 */
export function foldProof(key: string, leaf: Uint8Array, siblings: Uint8Array[]): Uint8Array {
  const path = keyPath(key);
  let h = leaf;
  for (let d = siblings.length - 1; d >= 0; d--) {
    h = bit(path, d) === 1 ? nodeHash(siblings[d], h) : nodeHash(h, siblings[d]);
  }
  return h;
}
