/**
 * {@linkcode PointerAnchors}: the service's Merkle tree over every current pointer, its anchor
 * loop, proofs, and the start-up check against the chain.
 *
 * - The tree is built from the pointer records at start (O(n)), then updated with the commits of
 *   this process and, from the KV change log, of other processes (headless re-encryption,
 *   purges). Commits are queued and folded in when the tree is next used (an anchor, a proof,
 *   a root) or the queue is long: each changed inner node is then hashed once per batch
 *   instead of once per write below it, which takes the hashing off the write path.
 * - An anchor sends `VaultAnchor.anchorPointers(root, seq, count)` and `AuditAnchor.anchor(head,
 *   count)` every `everyMs` or after `writes` commits, whichever comes first, and only when the
 *   pointers or the audit log changed since the last one. One anchor at a time; a failure is
 *   retried with exponential backoff (1 s doubling, capped at `everyMs`) and shown in
 *   {@linkcode PointerAnchors.status}.
 * - The tree as of the latest anchor is kept (nodes are shared, so it costs only what changed
 *   since): proofs are against the root that is on chain.
 *
 * @module
 */

import type { AnchorRecord, BlobPointer, KvPointerStore } from "../state/mod.ts";
import { PointerTree } from "./_smt.ts";

/** Queued commits folded into the tree at once at the latest. */
const FOLD_AT = 4096;

/** The chain calls anchoring needs (`ChainClient` has them). */
export interface AnchorChain {
  anchorPointers(
    root: `0x${string}`,
    seq: number,
    count: number,
  ): Promise<{ txHash: string; blockNumber: number }>;
  anchor(head: `0x${string}`, count: number): Promise<{ txHash: string; blockNumber: number }>;
  latestPointerAnchor(): Promise<{ root: string; seq: number; count: number }>;
  latestAnchor(): Promise<{ head: string; count: number }>;
}

/** The audit log's head (`KvAuditLog.head`). */
export interface AuditHeadSource {
  head(): Promise<{ seq: number; hash: string }>;
}

export interface PointerAnchorsOptions {
  pointers: KvPointerStore;
  audit: AuditHeadSource;
  /** Absent: nothing is anchored (the reason is in `noChainReason`), the tree is still kept. */
  chain?: AnchorChain;
  noChainReason?: string;
  everyMs: number;
  writes: number;
  /** Injected clock (tests); default `Date.now`. */
  now?: () => number;
  warn?: (message: string) => void;
}

/** What `/healthz`, the console and metrics show ("anchor lag"). */
export interface AnchorStatus {
  /** Whether anchors are sent at all (a chain with VaultAnchor and a governance key). */
  enabled: boolean;
  reason?: string;
  anchored_seq: number;
  anchored_at: string | null;
  tx_hash: string | null;
  /** Pointer changes since the latest anchor. */
  pending_writes: number;
  last_error: string | null;
  failures: number;
  next_attempt_at: string | null;
  /** Non-null while writes are refused after a detected rollback of the state store. */
  blocked: string | null;
}

/** A blob's pointer with its Merkle path, against the latest anchor when it covers it. */
export interface PointerProof {
  pointer: BlobPointer;
  /** The anchor whose root the path leads to; `null` until the next anchor covers the pointer. */
  anchor: AnchorRecord | null;
  /** The root the path leads to (the anchor's, or the current unanchored one). */
  root: string;
  leaf: string;
  siblings: string[];
}

const hex = (b: Uint8Array): `0x${string}` => `0x${b.toHex()}`;

/**
 * Anchor lag for metrics: 0 when nothing waits to be anchored, else the seconds since the
 * latest anchor (since `startedMs` before the first); `null` when nothing is anchored at all.
 *
 * ```ts
 * anchorLagSeconds(anchors.status(), Date.now(), startedAt); // e.g. 12.5
 * ```
 */
export function anchorLagSeconds(
  status: AnchorStatus,
  nowMs: number,
  startedMs: number,
): number | null {
  if (!status.enabled) return null;
  if (status.pending_writes === 0) return 0;
  const since = status.anchored_at === null ? startedMs : Date.parse(status.anchored_at);
  return Math.max(0, (nowMs - since) / 1000);
}

/**
 * ```ts
 * const anchors = new PointerAnchors({ pointers, audit, chain: chain.client, everyMs: 60_000, writes: 1000 });
 * await anchors.open();
 * store.listen((p) => anchors.onCommit(p));
 * anchors.start();
 * ```
 */
export class PointerAnchors {
  /** The tree without {@linkcode #queued}; read it through {@linkcode #tree}. */
  #folded = PointerTree.empty();
  /** Pointers committed (seq order, up to `#applied`) and not yet folded into the tree. */
  #queued: BlobPointer[] = [];
  #applied = 0;
  #snapshot: { tree: PointerTree; anchor: AnchorRecord } | null = null;
  #last: AnchorRecord | null = null;
  #pending = 0;
  #inFlight: Promise<AnchorRecord | null> | null = null;
  #lastAttempt: number;
  #failures = 0;
  #lastError: string | null = null;
  #nextAttempt: number | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #blocked: string | null = null;
  /** Whether {@linkcode checkAgainstChain} has run to its end (the chain answered). */
  #checked = false;
  /** Anchors mined by this object (tests count transactions with it). */
  anchorsSent = 0;
  readonly #now: () => number;

  constructor(readonly options: PointerAnchorsOptions) {
    this.#now = options.now ?? Date.now;
    this.#lastAttempt = this.#now();
  }

  /** Builds the tree from the pointer records and picks up the latest anchor. */
  async open(): Promise<void> {
    const { pointers } = this.options;
    const at = await pointers.seq();
    const all: BlobPointer[] = [];
    for await (const p of pointers.all()) all.push(p);
    this.#folded = PointerTree.from(all);
    this.#queued = [];
    this.#applied = at.seq;
    await this.sync();
    this.#last = await pointers.latestAnchor();
    if (this.#last && this.#last.seq === this.#applied) {
      this.#snapshot = { tree: this.#tree(), anchor: this.#last };
    }
    this.#pending = this.#applied - (this.#last?.seq ?? 0);
    this.#blocked = (await pointers.blocked())?.reason ?? null;
  }

  /**
   * Compares the state store with the latest anchors on chain: a chain that has seen more
   * pointer changes or audit entries than this store holds, or another root at the same `seq`,
   * means the state store was restored from an older copy. Writes are then refused (the block
   * is persisted) until an admin acknowledges; returns the reason, or `null` when all is well.
   */
  async checkAgainstChain(): Promise<string | null> {
    const { chain, pointers, audit } = this.options;
    if (!chain) return null;
    const onChain = await chain.latestPointerAnchor();
    const auditOnChain = await chain.latestAnchor();
    const head = await audit.head();
    const root = hex(this.#tree().rootHash());
    // Exactly the anchors an admin already accepted (integrity-ack) are not a new finding.
    const ack = await pointers.acknowledged();
    const accepted = ack !== null && ack.seq === onChain.seq && ack.root === onChain.root &&
      ack.audit_count === auditOnChain.count;
    let reason: string | null = null;
    if (accepted && this.#applied >= onChain.seq) return null;
    if (onChain.seq > this.#applied) {
      reason =
        `the state store holds ${this.#applied} pointer changes but the chain anchored ${onChain.seq}: it was restored from an older copy`;
    } else if (onChain.seq === this.#applied && onChain.seq > 0 && onChain.root !== root) {
      reason =
        `the pointers at change ${onChain.seq} do not match the root anchored on chain: the state store was altered`;
    } else if (auditOnChain.count > head.seq) {
      reason =
        `the audit log has ${head.seq} entries but the chain anchored ${auditOnChain.count}: it was truncated or restored from an older copy`;
    } else {
      // Counts alone miss a copy that grew again after the restore (a headless command run
      // while the service was stopped, a start that could not reach the chain): the chain's
      // latest anchors must be ones this state store sent (recorded, or about to be).
      const known = [await pointers.latestAnchor(), ...await pointers.pendingAnchors()];
      if (
        onChain.seq > 0 &&
        !known.some((k) => k?.seq === onChain.seq && k.root === onChain.root)
      ) {
        reason =
          `the chain's latest pointer anchor (seq ${onChain.seq}) is not one this state store sent: it was restored from an older copy`;
      } else if (
        auditOnChain.count > 0 &&
        !known.some((k) =>
          k?.audit_count === auditOnChain.count && k.audit_head === auditOnChain.head
        )
      ) {
        reason =
          `the chain's latest audit anchor (entry ${auditOnChain.count}) is not one this state store sent: it was restored from an older copy`;
      }
    }
    if (reason) {
      await pointers.block(reason, {
        chain_root: onChain.root,
        chain_seq: onChain.seq,
        chain_count: onChain.count,
        local_seq: this.#applied,
        chain_audit_head: auditOnChain.head,
        chain_audit_count: auditOnChain.count,
        local_audit_count: head.seq,
      });
      await pointers.audit("integrity_rollback_detected", { reason });
      this.#blocked = reason;
    }
    this.#checked = true;
    return reason;
  }

  /** Called for every pointer commit of this process. */
  onCommit(pointer: BlobPointer): void {
    if (pointer.seq === this.#applied + 1) {
      this.#queue(pointer);
      this.#applied = pointer.seq;
    }
    // Otherwise another process committed in between: `sync` catches up before the next use.
    this.#pending++;
    if (this.#pending >= this.options.writes) void this.tick();
  }

  #queue(pointer: BlobPointer): void {
    this.#queued.push(pointer);
    // Bounded: without a chain nothing anchors, and a batch this size already shares the top
    // of the tree.
    if (this.#queued.length >= FOLD_AT) this.#tree();
  }

  /** The tree with every queued commit folded in. */
  #tree(): PointerTree {
    if (this.#queued.length > 0) {
      this.#folded = this.#folded.setMany(this.#queued);
      this.#queued = [];
    }
    return this.#folded;
  }

  /** Applies commits made since the tree's last change (any process). */
  async sync(): Promise<void> {
    const { pointers } = this.options;
    for await (const change of pointers.changes(this.#applied)) {
      // onCommit may have moved on while this loop awaited: never step back.
      if (change.seq <= this.#applied) continue;
      const p = await pointers.get(change.key);
      if (p) this.#queue(p);
      this.#applied = change.seq;
    }
  }

  /** Anchors when due (time or writes) and allowed (not backing off). */
  async tick(): Promise<void> {
    // `integrity-ack` runs in another process: the status follows it (writes do, in the store).
    if (this.#blocked !== null) {
      this.#blocked = (await this.options.pointers.blocked())?.reason ?? null;
    }
    if (this.#inFlight) return;
    const now = this.#now();
    if (this.#nextAttempt !== null && now < this.#nextAttempt) return;
    const due = now - this.#lastAttempt >= this.options.everyMs ||
      this.#pending >= this.options.writes || this.#nextAttempt !== null;
    if (due) await this.anchorNow().catch(() => {});
  }

  /**
   * Anchors now if anything changed since the last anchor; resolves with the new record, or
   * `null` when nothing changed or there is no chain. One at a time: a second call joins.
   */
  anchorNow(): Promise<AnchorRecord | null> {
    this.#inFlight ??= this.#anchor().finally(() => {
      this.#inFlight = null;
      // Writes that arrived during the flight may already make the next one due.
      if (this.#pending >= this.options.writes) void this.tick();
    });
    return this.#inFlight;
  }

  async #anchor(): Promise<AnchorRecord | null> {
    const { chain, pointers, audit } = this.options;
    this.#lastAttempt = this.#now();
    // Commits from here on count toward the next anchor, even those the sync below includes.
    const counted = this.#pending;
    this.#pending = 0;
    // Without a chain nothing is sent, and the count goes too: kept, every later commit would
    // find an anchor due and start another at once (a loop of promises that starved the
    // event loop once `writes` commits had been made).
    if (!chain) return null;
    // Everything from here is the attempt: a state store error (state_busy) fails it like a
    // chain error, with backoff and in the status, and its write count is kept.
    try {
      // `integrity-ack` runs in another process: it lifts the block and records the chain's
      // anchors as the base. Taken from the state store here, or a running service kept showing
      // the block and sent anchors below the acknowledged seq or count, which the chain refuses.
      this.#blocked = (await pointers.blocked())?.reason ?? null;
      // Never anchor a state store found restored: the anchor would replace the chain's evidence.
      if (this.#blocked) return null;
      const saved = await pointers.latestAnchor();
      if (
        saved && (saved.seq > (this.#last?.seq ?? 0) ||
          saved.audit_count > (this.#last?.audit_count ?? 0))
      ) this.#last = saved;
      await this.sync();
      const tree = this.#tree();
      const seq = this.#applied;
      const head = await audit.head();
      const last = this.#last;
      if (seq <= (last?.seq ?? 0) && head.seq <= (last?.audit_count ?? 0)) return null;
      // Never anchor a state store the start could not check (the chain was unreachable), nor
      // one found restored: the anchor would replace the chain's evidence of the rollback.
      if (!this.#checked && await this.checkAgainstChain()) return null;
      const root = hex(tree.rootHash());
      await pointers.savePendingAnchor({
        root: seq > (last?.seq ?? 0) ? root : last?.root ?? root,
        seq: seq > (last?.seq ?? 0) ? seq : last?.seq ?? 0,
        audit_head: `0x${head.hash}`,
        audit_count: head.seq,
      });
      const at = new Date(this.#now()).toISOString();
      let record: AnchorRecord = last ?? {
        root,
        seq: 0,
        count: 0,
        tx_hash: null,
        block: null,
        audit_head: `0x${head.hash}`,
        audit_count: 0,
        audit_tx_hash: null,
        audit_block: null,
        at,
      };
      // Each transaction is recorded as soon as it is mined: when the audit anchor then fails,
      // the retry must not send the pointer anchor again (VaultAnchor refuses a seq that does
      // not grow, so every retry failed until the next pointer commit).
      // A retry first asks whether the failed attempt's transaction was mined anyway (an error
      // while waiting for its receipt): sent again, the contract refuses it, and every retry
      // failed until the next change. Such an anchor is recorded without its transaction.
      const retry = this.#failures > 0;
      if (seq > record.seq) {
        const onChain = retry ? await chain.latestPointerAnchor() : null;
        const landed = onChain?.seq === seq && onChain.root.toLowerCase() === root;
        const ptx = landed ? null : await chain.anchorPointers(root, seq, tree.size);
        record = {
          ...record,
          root,
          seq,
          count: tree.size,
          tx_hash: ptx?.txHash ?? null,
          block: ptx?.blockNumber ?? null,
          at,
        };
        this.#last = record;
        this.#snapshot = { tree, anchor: record };
        await pointers.saveAnchor(record);
      }
      if (head.seq > record.audit_count) {
        const onChain = retry ? await chain.latestAnchor() : null;
        const landed = onChain?.count === head.seq &&
          onChain.head.toLowerCase() === `0x${head.hash}`;
        const atx = landed ? null : await chain.anchor(`0x${head.hash}`, head.seq);
        record = {
          ...record,
          audit_head: `0x${head.hash}`,
          audit_count: head.seq,
          audit_tx_hash: atx?.txHash ?? null,
          audit_block: atx?.blockNumber ?? null,
          at,
        };
        this.#last = record;
        await pointers.saveAnchor(record);
      }
      this.anchorsSent++;
      this.#failures = 0;
      this.#lastError = null;
      this.#nextAttempt = null;
      await pointers.pruneChanges(Math.min(seq, this.#applied)).catch(() => {});
      return record;
    } catch (err) {
      this.#pending += counted;
      this.#failures++;
      this.#lastError = (err as Error).message ?? String(err);
      const backoff = Math.min(this.options.everyMs, 1000 * 2 ** (this.#failures - 1));
      this.#nextAttempt = this.#now() + backoff;
      this.options.warn?.(`anchor failed (attempt ${this.#failures}): ${this.#lastError}`);
      throw err;
    }
  }

  /** Runs `tick` on a timer (at least once a second). */
  start(): void {
    this.#timer ??= setInterval(
      () => void this.tick(),
      Math.min(1000, this.options.everyMs),
    );
  }

  /** Stops the timer and waits for an anchor in flight. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight?.catch(() => {});
  }

  /** The latest anchor's seq and time, pending changes and the last error. */
  status(): AnchorStatus {
    return {
      enabled: this.options.chain !== undefined,
      ...(this.options.chain ? {} : { reason: this.options.noChainReason ?? "no chain" }),
      anchored_seq: this.#last?.seq ?? 0,
      anchored_at: this.#last?.at ?? null,
      tx_hash: this.#last?.tx_hash ?? null,
      pending_writes: Math.max(0, this.#applied - (this.#last?.seq ?? 0)),
      last_error: this.#lastError,
      failures: this.#failures,
      next_attempt_at: this.#nextAttempt === null
        ? null
        : new Date(this.#nextAttempt).toISOString(),
      blocked: this.#blocked,
    };
  }

  /** The current root (not necessarily anchored), 0x-hex. */
  async currentRoot(): Promise<{ root: string; seq: number; count: number }> {
    await this.sync();
    const tree = this.#tree();
    return { root: hex(tree.rootHash()), seq: this.#applied, count: tree.size };
  }

  /**
   * The pointer of `key` with its Merkle path: against the latest anchor when that covers the
   * pointer, else against the current root with `anchor: null`. `null` when the key has none.
   */
  async proof(key: string): Promise<PointerProof | null> {
    const pointer = await this.options.pointers.get(key);
    if (!pointer) return null;
    const snap = this.#snapshot;
    let tree: PointerTree;
    let anchor: AnchorRecord | null = null;
    if (snap && pointer.seq <= snap.anchor.seq) {
      tree = snap.tree;
      anchor = snap.anchor;
    } else {
      await this.sync();
      tree = this.#tree();
    }
    const path = tree.prove(key);
    if (!path) return null;
    return {
      pointer,
      anchor,
      root: hex(tree.rootHash()),
      leaf: hex(path.leaf),
      siblings: path.siblings.map(hex),
    };
  }
}
