/**
 * The ring record (ARCHITECTURE §15): members with their wrapped group key of the current
 * rotation, `key_history` with the archived entries of every earlier rotation, signed by the
 * operator's wallet (EIP-191) over a canonical encoding. Pure checks, shared by members (who
 * refuse what the server could forge or replay) and the server (which refuses to store it).
 *
 * @module
 */

import { keccak256, recoverMessageAddress } from "viem";
import { isAddress, isOmni, isValidName, NAME_RULE, operatorOmniOf } from "../identity/mod.ts";
import { KeyringError } from "./_errors.ts";
import { WRAPPED_KEY_BYTES } from "./_hpke.ts";

/** One member's slot at one rotation. Keys are standard base64. */
export interface MemberEntry {
  actor_omni: string;
  /** The member's X25519 public key (32 bytes). */
  kem_public_key: string;
  /** GK of this rotation, HPKE-wrapped to `kem_public_key` (80 bytes). */
  wrapped_group_key: string;
}

/** The member entries of an earlier rotation, archived when it was replaced (seed 002's fix). */
export interface HistoryEntry {
  rotation: number;
  members: MemberEntry[];
}

/** The record before the operator signs it. */
export interface UnsignedRecord {
  v: 1;
  ring: string;
  operator_address: string;
  operator_omni: string;
  /** Grows by one with every change; the server's compare-and-swap is on it. */
  version: number;
  /** Grows by one with every removal (a new group key); never goes back. */
  rotation: number;
  members: MemberEntry[];
  key_history: HistoryEntry[];
}

/** A signed ring record, as stored and served. */
export interface RingRecord extends UnsignedRecord {
  /** EIP-191 signature by `operator_address` of {@linkcode recordSigningMessage}. */
  signature: string;
}

/** The most members a ring may have (a removal wraps one key per member). */
export const MAX_MEMBERS = 1000;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const SIG = /^0x[0-9a-f]{130}$/;

function b64Bytes(value: unknown, bytes: number, what: string): void {
  if (typeof value !== "string" || !B64.test(value) || value.length !== Math.ceil(bytes / 3) * 4) {
    throw new KeyringError("record_invalid", `${what} must be ${bytes} bytes of base64`);
  }
}

function parseMembers(value: unknown, where: string): MemberEntry[] {
  if (!Array.isArray(value) || value.length < 1 || value.length > MAX_MEMBERS) {
    throw new KeyringError("record_invalid", `${where} must list 1..${MAX_MEMBERS} members`);
  }
  const out: MemberEntry[] = [];
  for (const m of value) {
    if (typeof m !== "object" || m === null) {
      throw new KeyringError("record_invalid", `${where}: a member is not an object`);
    }
    const e = m as Record<string, unknown>;
    if (!isOmni(e.actor_omni)) {
      throw new KeyringError("record_invalid", `${where}: actor_omni is not an omni`);
    }
    b64Bytes(e.kem_public_key, 32, `${where}: kem_public_key`);
    b64Bytes(e.wrapped_group_key, WRAPPED_KEY_BYTES, `${where}: wrapped_group_key`);
    const prev = out.at(-1);
    // One order, so that the canonical encoding is unique and duplicates are visible.
    if (prev && prev.actor_omni >= e.actor_omni) {
      throw new KeyringError("record_invalid", `${where}: members must be sorted and unique`);
    }
    out.push({
      actor_omni: e.actor_omni,
      kem_public_key: e.kem_public_key as string,
      wrapped_group_key: e.wrapped_group_key as string,
    });
  }
  return out;
}

/**
 * Checks a record's shape; throws `record_invalid`. It does not check the signature (see
 * {@linkcode verifyRecord}). `key_history` must hold exactly the rotations 0..rotation-1, so
 * a record whose history was dropped is refused even by a member that never saw an older one.
 *
 * ```ts
 * const record = parseRecord(await response.json());
 * ```
 */
export function parseRecord(value: unknown): RingRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new KeyringError("record_invalid", "a ring record is a JSON object");
  }
  const r = value as Record<string, unknown>;
  if (r.v !== 1) throw new KeyringError("record_invalid", "unknown record format (v must be 1)");
  if (!isValidName(r.ring)) {
    throw new KeyringError("record_invalid", `ring must match ${NAME_RULE}`);
  }
  // A ring's objects sit in a folder named after it beside the member key's `member-key.enc`:
  // a ring of that name would collide with it on the fs store (review), so no ring ends in the
  // objects' suffix.
  if (r.ring.endsWith(".enc")) {
    throw new KeyringError("record_invalid", "a ring name may not end in .enc");
  }
  if (
    typeof r.operator_address !== "string" || !isAddress(r.operator_address) ||
    r.operator_address !== r.operator_address.toLowerCase()
  ) {
    throw new KeyringError("record_invalid", "operator_address must be a lowercase address");
  }
  if (!isOmni(r.operator_omni) || operatorOmniOf(r.operator_address) !== r.operator_omni) {
    throw new KeyringError("record_invalid", "operator_omni is not the omni of operator_address");
  }
  if (!Number.isSafeInteger(r.version) || (r.version as number) < 1) {
    throw new KeyringError("record_invalid", "version must be an integer ≥ 1");
  }
  if (!Number.isSafeInteger(r.rotation) || (r.rotation as number) < 0) {
    throw new KeyringError("record_invalid", "rotation must be an integer ≥ 0");
  }
  const rotation = r.rotation as number;
  const members = parseMembers(r.members, "members");
  if (!members.some((m) => m.actor_omni === r.operator_omni)) {
    throw new KeyringError("record_invalid", "the operator must be a member of its ring");
  }
  if (!Array.isArray(r.key_history) || r.key_history.length !== rotation) {
    throw new KeyringError(
      "record_invalid",
      `key_history must hold the ${rotation} earlier rotation(s); history was removed`,
    );
  }
  const key_history = r.key_history.map((h, i) => {
    const entry = h as Record<string, unknown>;
    if (typeof h !== "object" || h === null || entry.rotation !== i) {
      throw new KeyringError("record_invalid", `key_history[${i}] must be rotation ${i}`);
    }
    return { rotation: i, members: parseMembers(entry.members, `key_history[${i}]`) };
  });
  if (typeof r.signature !== "string" || !SIG.test(r.signature)) {
    throw new KeyringError("record_invalid", "signature must be 65 bytes of lowercase hex");
  }
  return {
    v: 1,
    ring: r.ring,
    operator_address: r.operator_address,
    operator_omni: r.operator_omni,
    version: r.version as number,
    rotation,
    members,
    key_history,
    signature: r.signature,
  };
}

const entryTuple = (m: MemberEntry) => [m.actor_omni, m.kem_public_key, m.wrapped_group_key];

/**
 * The canonical encoding (fixed field order, arrays in their validated order) and the EIP-191
 * message the operator signs: the prefix and the keccak256 of that encoding, short enough for a
 * wallet to show.
 *
 * ```ts
 * const message = recordSigningMessage(unsigned); // "agentkeys.keyring-record.v1:0x…"
 * ```
 */
export function recordSigningMessage(r: UnsignedRecord): string {
  const canonical = JSON.stringify([
    "agentkeys.keyring-record.v1",
    r.ring,
    r.operator_address,
    r.operator_omni,
    r.version,
    r.rotation,
    r.members.map(entryTuple),
    r.key_history.map((h) => [h.rotation, h.members.map(entryTuple)]),
  ]);
  return `agentkeys.keyring-record.v1:${keccak256(new TextEncoder().encode(canonical))}`;
}

/**
 * Parses and checks the operator's signature; with `expectOperator`, also that the ring is that
 * operator's. Throws `record_invalid`.
 *
 * ```ts
 * const record = await verifyRecord(body.record, { expectOperator: session.operator_omni });
 * ```
 */
export async function verifyRecord(
  value: unknown,
  options: { expectOperator?: string } = {},
): Promise<RingRecord> {
  const record = parseRecord(value);
  if (options.expectOperator !== undefined && record.operator_omni !== options.expectOperator) {
    throw new KeyringError("record_invalid", "this record belongs to another operator");
  }
  let signer: string;
  try {
    signer = (await recoverMessageAddress({
      message: recordSigningMessage(record),
      signature: record.signature as `0x${string}`,
    })).toLowerCase();
  } catch (err) {
    throw new KeyringError("record_invalid", "the record signature does not recover", {
      cause: err,
    });
  }
  if (signer !== record.operator_address) {
    throw new KeyringError("record_invalid", "the record is not signed by its operator");
  }
  return record;
}

const sameEntry = (a: MemberEntry, b: MemberEntry) =>
  a.actor_omni === b.actor_omni && a.kem_public_key === b.kem_public_key &&
  a.wrapped_group_key === b.wrapped_group_key;

/** Every entry of `old` is in `now`, unchanged (entries may be added, never dropped or altered). */
function keepsAll(old: MemberEntry[], now: MemberEntry[]): boolean {
  const byActor = new Map(now.map((m) => [m.actor_omni, m]));
  return old.every((m) => {
    const n = byActor.get(m.actor_omni);
    return n !== undefined && sameEntry(m, n);
  });
}

/**
 * Whether `next` may follow `prev`: same ring and operator, rotation never back and at most one
 * step per version, history only grows (an archived entry can gain members through
 * `add --with-history`, never lose or change one), and a rotation archives the previous members.
 * `strict` (the server's compare-and-swap) also requires `next.version === prev.version + 1`; a
 * member that last saw `prev` only requires that nothing goes back. Throws `record_rollback` for
 * an older record and `record_invalid` for a broken successor.
 *
 * ```ts
 * checkSuccessor(cachedRecord, fetchedRecord); // a member refusing a replayed record
 * ```
 */
export function checkSuccessor(prev: RingRecord, next: RingRecord, strict = false): void {
  if (next.ring !== prev.ring || next.operator_omni !== prev.operator_omni) {
    throw new KeyringError("record_invalid", "the record is for another ring or operator");
  }
  if (next.version < prev.version || next.rotation < prev.rotation) {
    throw new KeyringError(
      "record_rollback",
      `record version ${next.version} rotation ${next.rotation} is older than version ` +
        `${prev.version} rotation ${prev.rotation}`,
    );
  }
  if (next.version === prev.version) {
    if (next.signature !== prev.signature || next.rotation !== prev.rotation) {
      throw new KeyringError("record_invalid", "two different records carry the same version");
    }
    return;
  }
  if (strict && next.version !== prev.version + 1) {
    throw new KeyringError("keyring_conflict", `the current version is ${prev.version}`);
  }
  if (next.rotation - prev.rotation > next.version - prev.version) {
    throw new KeyringError("record_invalid", "the rotation grew by more than one per version");
  }
  for (const h of prev.key_history) {
    if (!keepsAll(h.members, next.key_history[h.rotation].members)) {
      throw new KeyringError("record_invalid", `history of rotation ${h.rotation} was altered`);
    }
  }
  const archive = next.rotation > prev.rotation
    ? next.key_history[prev.rotation].members
    : next.members;
  // Same rotation: the current entries may only grow (an added member), except for removals,
  // which always rotate. Higher rotation: the entries of prev's rotation are archived.
  if (!keepsAll(prev.members, archive)) {
    throw new KeyringError(
      "record_invalid",
      next.rotation > prev.rotation
        ? `the members of rotation ${prev.rotation} were not archived into key_history`
        : "a member was dropped without a new rotation",
    );
  }
}
