/**
 * Keyrings (ARCHITECTURE §15, seed 002): end-to-end encrypted documents shared by an operator's
 * actors. Client-side crypto and the signed ring record: member keys derived from a secp256k1
 * signature, group keys wrapped with HPKE (RFC 9180), rotation on removal with `key_history`,
 * documents under per-document content keys. Browser-safe (the console imports it); the
 * service uses only the pure checks (record shape and signature, successor rules, a document's
 * rotation) and never holds a group or content key.
 *
 * ```ts
 * import { addMember, createRing, deriveMemberKey, groupKeyFor, openDocument, sealDocument }
 *   from "./lib/keyrings/mod.ts";
 * const memberKey = await deriveMemberKey(account);
 * let record = await createRing("team", { address: account.address, signer: account, memberKey });
 * record = await addMember(record, agentB, { address: account.address, signer: account, memberKey });
 * const gk = await groupKeyFor(record, record.rotation, record.operator_omni, memberKey);
 * const doc = await sealDocument({ operator_omni, ring: "team", name: "api" }, record.rotation, gk, bytes);
 * ```
 *
 * @module
 */

export { KeyringError, type KeyringErrorCode } from "./_errors.ts";
export { deriveMemberKey, type MemberKey } from "./_hpke.ts";
export { checkSuccessor, type RingRecord, verifyRecord } from "./_record.ts";
export { addMember, createRing, groupKeyFor, removeMember, signRecord } from "./_ring.ts";
export { documentRotation, openDocument, sealDocument } from "./_document.ts";
export { type PublishedMemberKey, verifyMemberKey } from "./_member_key.ts";
export {
  KeyringMember,
  KeyringOperator,
  type KeyringTransport,
  type SeenRecords,
} from "./_member.ts";
