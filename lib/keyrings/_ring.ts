/**
 * What members do with a ring record: create it, add and remove members (the operator), and
 * find the group key of a rotation (any member, from `members` or from `key_history`). The
 * service only stores the signed result; it never sees a group key.
 *
 * @module
 */

import { KeyringError } from "./_errors.ts";
import { type MemberKey, type MessageSigner, unwrapGroupKey, wrapGroupKey } from "./_hpke.ts";
import {
  type MemberEntry,
  recordSigningMessage,
  type RingRecord,
  type UnsignedRecord,
} from "./_record.ts";
import { operatorOmniOf } from "../identity/mod.ts";

/** The operator's side of a membership change: its wallet and its member key. */
export interface OperatorKeys {
  /** The operator's wallet address (any case). */
  address: string;
  signer: MessageSigner;
  memberKey: MemberKey;
}

/** A member to wrap for: its actor and its published X25519 public key. */
export interface NewMember {
  actor_omni: string;
  kem_public_key: Uint8Array;
}

const GROUP_KEY_BYTES = 32;

async function entryFor(
  member: NewMember,
  groupKey: Uint8Array,
  ctx: { operator_omni: string; ring: string; rotation: number },
): Promise<MemberEntry> {
  const wrapped = await wrapGroupKey(member.kem_public_key, groupKey, {
    ...ctx,
    actor_omni: member.actor_omni,
  });
  return {
    actor_omni: member.actor_omni,
    kem_public_key: member.kem_public_key.toBase64(),
    wrapped_group_key: wrapped.toBase64(),
  };
}

const byActor = (a: MemberEntry, b: MemberEntry) => a.actor_omni < b.actor_omni ? -1 : 1;

/**
 * Signs an unsigned record with the operator's wallet.
 *
 * ```ts
 * const record = await signRecord(unsigned, account);
 * ```
 */
export async function signRecord(r: UnsignedRecord, signer: MessageSigner): Promise<RingRecord> {
  const signature = await signer.signMessage({ message: recordSigningMessage(r) });
  return { ...r, signature: signature.toLowerCase() };
}

/**
 * A new ring at rotation 0 with the operator as its only member.
 *
 * ```ts
 * const record = await createRing("team", { address, signer: account, memberKey });
 * ```
 */
export async function createRing(ring: string, op: OperatorKeys): Promise<RingRecord> {
  const address = op.address.toLowerCase();
  const operator_omni = operatorOmniOf(address);
  const gk = crypto.getRandomValues(new Uint8Array(GROUP_KEY_BYTES));
  const self = await entryFor(
    { actor_omni: operator_omni, kem_public_key: op.memberKey.publicKey },
    gk,
    { operator_omni, ring, rotation: 0 },
  );
  return await signRecord({
    v: 1,
    ring,
    operator_address: address,
    operator_omni,
    version: 1,
    rotation: 0,
    members: [self],
    key_history: [],
  }, op.signer);
}

/**
 * The group key of `rotation` for `actorOmni`, unwrapped with its member key: from `members`
 * for the current rotation, from `key_history` for an earlier one — what a member whose cache
 * is gone does. Throws `rotation_unknown` or `not_a_member`.
 *
 * ```ts
 * const gk0 = await groupKeyFor(record, 0, myOmni, myKey);
 * ```
 */
export async function groupKeyFor(
  record: RingRecord,
  rotation: number,
  actorOmni: string,
  key: MemberKey,
): Promise<Uint8Array<ArrayBuffer>> {
  const entries = rotation === record.rotation
    ? record.members
    : record.key_history.find((h) => h.rotation === rotation)?.members;
  if (!entries) {
    throw new KeyringError("rotation_unknown", `ring ${record.ring} has no rotation ${rotation}`);
  }
  const mine = entries.find((m) => m.actor_omni === actorOmni);
  if (!mine) {
    throw new KeyringError(
      "not_a_member",
      `${actorOmni} holds no group key of rotation ${rotation} in ring ${record.ring}`,
    );
  }
  return await unwrapGroupKey(key.privateKey, Uint8Array.fromBase64(mine.wrapped_group_key), {
    operator_omni: record.operator_omni,
    ring: record.ring,
    rotation,
    actor_omni: actorOmni,
  });
}

/**
 * Adds a member at the current rotation: the operator unwraps GK_r and wraps it for the new
 * member; with `withHistory`, also every earlier group key it can unwrap (those entries are
 * added to `key_history`, nothing there is replaced).
 *
 * ```ts
 * const next = await addMember(record, { actor_omni, kem_public_key }, op, { withHistory: true });
 * ```
 */
export async function addMember(
  record: RingRecord,
  member: NewMember,
  op: OperatorKeys,
  options: { withHistory?: boolean } = {},
): Promise<RingRecord> {
  if (record.members.some((m) => m.actor_omni === member.actor_omni)) {
    throw new KeyringError("record_invalid", `${member.actor_omni} is a member already`);
  }
  const ctx = { operator_omni: record.operator_omni, ring: record.ring };
  const gk = await groupKeyFor(record, record.rotation, record.operator_omni, op.memberKey);
  const members = [
    ...record.members,
    await entryFor(member, gk, { ...ctx, rotation: record.rotation }),
  ].sort(byActor);
  const key_history = await Promise.all(record.key_history.map(async (h) => {
    if (!options.withHistory || h.members.some((m) => m.actor_omni === member.actor_omni)) {
      return h;
    }
    let old: Uint8Array<ArrayBuffer>;
    try {
      old = await groupKeyFor(record, h.rotation, record.operator_omni, op.memberKey);
    } catch {
      return h; // a rotation the operator cannot open stays as it is
    }
    const added = await entryFor(member, old, { ...ctx, rotation: h.rotation });
    return { rotation: h.rotation, members: [...h.members, added].sort(byActor) };
  }));
  const { signature: _, ...rest } = record;
  return await signRecord(
    { ...rest, version: record.version + 1, members, key_history },
    op.signer,
  );
}

/**
 * Removes a member: archives the current entries into `key_history` first (seed 002's fix),
 * then wraps a fresh GK_{r+1} to the remaining members. The removed member keeps only what it
 * could already read.
 *
 * ```ts
 * const next = await removeMember(record, agentC, op);
 * ```
 */
export async function removeMember(
  record: RingRecord,
  actorOmni: string,
  op: OperatorKeys,
): Promise<RingRecord> {
  if (actorOmni === record.operator_omni) {
    throw new KeyringError("record_invalid", "the operator cannot leave its own ring");
  }
  if (!record.members.some((m) => m.actor_omni === actorOmni)) {
    throw new KeyringError("not_a_member", `${actorOmni} is not a member of ${record.ring}`);
  }
  const rotation = record.rotation + 1;
  const gk = crypto.getRandomValues(new Uint8Array(GROUP_KEY_BYTES));
  const remaining = record.members.filter((m) => m.actor_omni !== actorOmni);
  const members = await Promise.all(remaining.map((m) =>
    entryFor(
      { actor_omni: m.actor_omni, kem_public_key: Uint8Array.fromBase64(m.kem_public_key) },
      gk,
      { operator_omni: record.operator_omni, ring: record.ring, rotation },
    )
  ));
  const { signature: _, ...rest } = record;
  return await signRecord({
    ...rest,
    version: record.version + 1,
    rotation,
    members,
    key_history: [...record.key_history, { rotation: record.rotation, members: record.members }],
  }, op.signer);
}
