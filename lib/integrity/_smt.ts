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
const NODE_TAG = new Uint8Array([1]);
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

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
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
  const value = sha256(
    encoder.encode(
      `agentkeys.pointer.v1|${p.key}|${p.version}|${p.epoch ?? "-"}|${
        p.sha256 ?? "deleted"
      }|${p.size}`,
    ),
  );
  return sha256(LEAF_TAG, keyPath(p.key), value);
}

/** `node(l, r)`. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_TAG, left, right);
}

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

function insert(node: Node | null, leaf: Leaf, depth: number): Node {
  if (node === null) return leaf;
  if (isLeaf(node)) return samePath(node.path, leaf.path) ? leaf : split(node, leaf, depth);
  return bit(leaf.path, depth) === 0
    ? inner(insert(node.left, leaf, depth + 1), node.right)
    : inner(node.left, insert(node.right, leaf, depth + 1));
}

function build(leaves: Leaf[], depth: number): Node | null {
  if (leaves.length === 0) return null;
  if (leaves.length === 1) return leaves[0];
  const left: Leaf[] = [];
  const right: Leaf[] = [];
  for (const l of leaves) (bit(l.path, depth) === 0 ? left : right).push(l);
  return inner(build(left, depth + 1), build(right, depth + 1));
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
  static from(pointers: Iterable<PointerFields>): PointerTree {
    const byPath = new Map<string, Leaf>();
    for (const p of pointers) byPath.set(p.key, { path: keyPath(p.key), hash: leafHash(p) });
    return new PointerTree(build([...byPath.values()], 0), byPath.size);
  }

  /** The 32-byte root. */
  rootHash(): Uint8Array {
    return this.root?.hash ?? EMPTY;
  }

  /** A snapshot with `pointer` set (added or replaced). */
  set(pointer: PointerFields): PointerTree {
    const leaf = { path: keyPath(pointer.key), hash: leafHash(pointer) };
    const added = this.prove(pointer.key) === null ? 1 : 0;
    return new PointerTree(insert(this.root, leaf, 0), this.size + added);
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
