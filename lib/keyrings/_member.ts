/**
 * A member's (and the operator's) view of keyrings over the HTTP API: every check a member
 * makes is here, so the CLI, the console and the tests do the same thing. The transport is any
 * client with `call(method, path, body, token)` (lib/client's `AgentKeysClient`).
 *
 * @module
 */

import { deviceKeyHash, operatorOmniOf } from "../identity/mod.ts";
import { KeyringError } from "./_errors.ts";
import { deriveMemberKey, type MemberKey, type MessageSigner } from "./_hpke.ts";
import { checkSuccessor, type RingRecord, verifyRecord } from "./_record.ts";
import { addMember, createRing, groupKeyFor, removeMember } from "./_ring.ts";
import { openDocument, sealDocument } from "./_document.ts";
import { type PublishedMemberKey, signMemberKey, verifyMemberKey } from "./_member_key.ts";

/** The HTTP calls this needs, bound to a session (lib/client's `AgentKeysClient` fits). */
export interface KeyringTransport {
  call<T = Record<string, unknown>>(
    method: "GET" | "POST" | "PUT",
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<T>;
}

/**
 * What a member remembers per ring to refuse a replayed (older) record: the highest version and
 * rotation it has verified. Optional; without it only the record's own checks apply.
 */
export interface SeenRecords {
  get(
    operatorOmni: string,
    ring: string,
  ): Promise<{ version: number; rotation: number } | undefined>;
  set(
    operatorOmni: string,
    ring: string,
    seen: { version: number; rotation: number },
  ): Promise<void>;
}

/** Who the member is. */
export interface MemberIdentity {
  operator_omni: string;
  actor_omni: string;
}

/**
 * ```ts
 * const member = await KeyringMember.open(api, { operator_omni, actor_omni }, deviceAccount);
 * await member.put("team", "api-key", new TextEncoder().encode("sk-…"));
 * const text = await member.get("team", "api-key");
 * ```
 */
export class KeyringMember {
  protected constructor(
    protected readonly api: KeyringTransport,
    readonly me: MemberIdentity,
    readonly key: MemberKey,
    protected readonly signer: MessageSigner & { address: string },
    protected readonly seen?: SeenRecords,
  ) {}

  /** Derives the member key from `signer` (the device key, or the operator's wallet). */
  static async open(
    api: KeyringTransport,
    me: MemberIdentity,
    signer: MessageSigner & { address: string },
    seen?: SeenRecords,
  ): Promise<KeyringMember> {
    return new KeyringMember(api, me, await deriveMemberKey(signer), signer, seen);
  }

  /** Publishes this member's key (signed by the same key it was derived from). */
  async publishKey(): Promise<PublishedMemberKey> {
    const member_key = await signMemberKey(this.me.actor_omni, this.key, this.signer);
    await this.api.call("POST", "/v1/member-keys", { member_key });
    return member_key;
  }

  /**
   * The ring's record, verified: the operator's signature, the shape (history for every earlier
   * rotation), and never older than what this member saw before (`record_rollback`).
   */
  async record(ring: string): Promise<RingRecord> {
    const { record: value } = await this.api.call<{ record: unknown }>(
      "GET",
      `/v1/keyrings/${encodeURIComponent(ring)}`,
    );
    const record = await verifyRecord(value, { expectOperator: this.me.operator_omni });
    if (record.ring !== ring) {
      throw new KeyringError("record_invalid", "the service sent another ring");
    }
    const seen = await this.seen?.get(this.me.operator_omni, ring);
    if (seen && (record.version < seen.version || record.rotation < seen.rotation)) {
      throw new KeyringError(
        "record_rollback",
        `the service sent version ${record.version} rotation ${record.rotation}; ` +
          `version ${seen.version} rotation ${seen.rotation} was seen before`,
      );
    }
    await this.seen?.set(this.me.operator_omni, ring, {
      version: record.version,
      rotation: record.rotation,
    });
    return record;
  }

  async #cap(kind: string, ring: string): Promise<string> {
    const { cap } = await this.api.call<{ cap: string }>("POST", `/v1/cap/${kind}`, {
      operator_omni: this.me.operator_omni,
      actor_omni: this.me.actor_omni,
      ring,
    });
    return cap;
  }

  /** Encrypts and stores a document under the ring's current rotation. */
  async put(ring: string, name: string, plaintext: Uint8Array<ArrayBuffer>) {
    const record = await this.record(ring);
    const gk = await groupKeyFor(record, record.rotation, this.me.actor_omni, this.key);
    const document = await sealDocument(
      { operator_omni: this.me.operator_omni, ring, name },
      record.rotation,
      gk,
      plaintext,
    );
    const cap = await this.#cap("keyring-put", ring);
    return await this.api.call<{ name: string; rotation: number; size: number; epoch: number }>(
      "POST",
      "/v1/keyring/put",
      { name, document_b64: document.toBase64() },
      cap,
    );
  }

  /**
   * Fetches and decrypts a document: the group key of the document's rotation comes from
   * `members` or, for an older rotation, from `key_history` — nothing cached is needed.
   */
  async get(ring: string, name: string): Promise<Uint8Array> {
    const cap = await this.#cap("keyring-get", ring);
    const { document_b64 } = await this.api.call<{ document_b64: string }>(
      "POST",
      "/v1/keyring/get",
      { name },
      cap,
    );
    const record = await this.record(ring);
    return await openDocument(
      { operator_omni: this.me.operator_omni, ring, name },
      Uint8Array.fromBase64(document_b64),
      (rotation) => groupKeyFor(record, rotation, this.me.actor_omni, this.key),
    );
  }

  /** Document names and sizes. */
  async list(ring: string) {
    const cap = await this.#cap("keyring-list", ring);
    return await this.api.call<{ items: { name: string; size: number; updated_at: string }[] }>(
      "POST",
      "/v1/keyring/list",
      {},
      cap,
    );
  }

  /** Deletes one document. */
  async remove(ring: string, name: string): Promise<{ deleted: number }> {
    const cap = await this.#cap("keyring-teardown", ring);
    return await this.api.call("POST", "/v1/keyring/teardown", { name }, cap);
  }
}

/**
 * The operator: a member that also signs membership changes with its wallet.
 *
 * ```ts
 * const op = await KeyringOperator.forWallet(api, wallet);
 * await op.create("team");
 * await op.add("team", agentOmni, { deviceKeyHash: agent.device_key_hash, withHistory: true });
 * await op.removeMember("team", agentOmni);
 * ```
 */
export class KeyringOperator extends KeyringMember {
  static async forWallet(
    api: KeyringTransport,
    wallet: MessageSigner & { address: string },
    seen?: SeenRecords,
  ): Promise<KeyringOperator> {
    const omni = operatorOmniOf(wallet.address);
    return new KeyringOperator(
      api,
      { operator_omni: omni, actor_omni: omni },
      await deriveMemberKey(wallet),
      wallet,
      seen,
    );
  }

  #keys() {
    return { address: this.signer.address, signer: this.signer, memberKey: this.key };
  }

  /** Creates a ring with the operator as its only member (and publishes the operator's key). */
  async create(ring: string): Promise<RingRecord> {
    await this.publishKey();
    const record = await createRing(ring, this.#keys());
    await this.api.call("POST", "/v1/keyrings", { record });
    await this.seen?.set(this.me.operator_omni, ring, { version: 1, rotation: 0 });
    return record;
  }

  /**
   * A member's published key, checked: signed by the key it names, and that key is the agent's
   * registered device (`deviceKeyHash`, from `GET /v1/operators/me`) or the operator's wallet.
   */
  async memberKeyOf(actorOmni: string, expectDeviceKeyHash?: string): Promise<PublishedMemberKey> {
    const { member_key } = await this.api.call<{ member_key: unknown }>(
      "GET",
      `/v1/member-keys/${actorOmni}`,
    );
    const key = await verifyMemberKey(member_key);
    const whose = actorOmni === this.me.operator_omni
      ? operatorOmniOf(key.signer_address) === actorOmni
      : expectDeviceKeyHash !== undefined &&
        deviceKeyHash(key.signer_address) === expectDeviceKeyHash;
    if (key.actor_omni !== actorOmni || !whose) {
      throw new KeyringError(
        "member_key_invalid",
        "the published key is not signed by this member's registered key",
      );
    }
    return key;
  }

  /** Adds a member (optionally with every earlier group key the operator can open). */
  async add(
    ring: string,
    actorOmni: string,
    options: { deviceKeyHash?: string; withHistory?: boolean } = {},
  ): Promise<RingRecord> {
    const key = await this.memberKeyOf(actorOmni, options.deviceKeyHash);
    const record = await this.record(ring);
    const next = await addMember(
      record,
      { actor_omni: actorOmni, kem_public_key: Uint8Array.fromBase64(key.kem_public_key) },
      this.#keys(),
      { withHistory: options.withHistory },
    );
    return await this.#update(record, next);
  }

  /** Removes a member: archives the current entries, rotates the group key. */
  async removeMember(ring: string, actorOmni: string): Promise<RingRecord> {
    const record = await this.record(ring);
    return await this.#update(record, await removeMember(record, actorOmni, this.#keys()));
  }

  async #update(prev: RingRecord, next: RingRecord): Promise<RingRecord> {
    checkSuccessor(prev, next, true);
    await this.api.call("PUT", `/v1/keyrings/${encodeURIComponent(next.ring)}`, { record: next });
    await this.seen?.set(next.operator_omni, next.ring, {
      version: next.version,
      rotation: next.rotation,
    });
    return next;
  }
}
