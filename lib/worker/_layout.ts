/**
 * Where each data class keeps its blobs (ARCHITECTURE §5), and the object name each blob binds
 * into its envelope AAD. The re-encryption job reads the same layout, so it lives here once.
 *
 * ```
 * bots/<actor>/credentials/<service>.enc          object name: <service>
 * bots/<actor>/memory/<namespace>/<name>.enc      object name: <namespace>/<name>
 * bots/<actor>/inbound/<message id>.enc           object name: <message id>
 * bots/<operator>/keyring/<ring>/record.enc       object name: <ring>/record
 * bots/<operator>/keyring/<ring>/docs/<name>.enc  object name: <ring>/docs/<name>
 * bots/<actor>/keyring/member-key.enc             object name: member-key
 * ```
 *
 * Keyring blobs sit under the data class's own name (`keyring/`, not §5's `keyrings/`): every
 * scan (census, re-encryption, purge) classifies a key by its third segment as a data class.
 *
 * @module
 */

import type { DataClass } from "../crypto/mod.ts";
import { isOmni, isOmniHex, isValidName, NAME_RULE, omniToHex } from "../identity/mod.ts";

const SUFFIX = ".enc";

/** An object key or name that breaks the layout rules (maps to HTTP 400). */
export class InvalidName extends Error {
  readonly code = "invalid_name";
  constructor(message: string) {
    super(message);
    this.name = "InvalidName";
  }
}

/** A blob's place: its store key and the object name bound into the AAD. */
export interface BlobLocation {
  key: string;
  dataClass: DataClass;
  actorHex: string;
  objectName: string;
}

/**
 * The actor's object-key form (`omniToHex` of lib/identity), refusing a malformed omni as an
 * {@linkcode InvalidName} like every other part of a blob's location.
 *
 * ```ts
 * actorHexOf(claims.actor_omni); // "ab…" (64 hex)
 * ```
 */
export function actorHexOf(omni: string): string {
  if (!isOmni(omni)) throw new InvalidName("actor omni must be 0x + 64 lowercase hex");
  return omniToHex(omni);
}

/**
 * Refuses anything but a name of lib/identity's one rule (`..`, `/`, uppercase, > 64 chars).
 *
 * ```ts
 * checkName("namespace", body.namespace); // throws InvalidName for "../x"
 * ```
 */
export function checkName(kind: string, name: unknown): string {
  if (!isValidName(name)) throw new InvalidName(`${kind} must match ${NAME_RULE}`);
  return name;
}

/** The prefix listing every blob of one actor and class: `bots/<actor>/<class>/`. */
export function classPrefix(actorHex: string, dataClass: DataClass): string {
  return `bots/${actorHex}/${dataClass}/`;
}

/** `bots/<actor>/credentials/<service>.enc` */
export function credentialLocation(actorHex: string, service: string): BlobLocation {
  checkName("service", service);
  return {
    key: `${classPrefix(actorHex, "credentials")}${service}${SUFFIX}`,
    dataClass: "credentials",
    actorHex,
    objectName: service,
  };
}

/** `bots/<actor>/memory/<namespace>/<name>.enc` */
export function memoryLocation(actorHex: string, namespace: string, name: string): BlobLocation {
  checkName("namespace", namespace);
  checkName("name", name);
  return {
    key: `${classPrefix(actorHex, "memory")}${namespace}/${name}${SUFFIX}`,
    dataClass: "memory",
    actorHex,
    objectName: `${namespace}/${name}`,
  };
}

/** `bots/<actor>/inbound/<message id>.enc` */
export function inboundLocation(actorHex: string, messageId: string): BlobLocation {
  checkName("message id", messageId);
  return {
    key: `${classPrefix(actorHex, "inbound")}${messageId}${SUFFIX}`,
    dataClass: "inbound",
    actorHex,
    objectName: messageId,
  };
}

/** `bots/<operator>/keyring/<ring>/record.enc`: a ring's signed record (§15). */
export function keyringRecordLocation(operatorHex: string, ring: string): BlobLocation {
  checkName("ring", ring);
  return {
    key: `${classPrefix(operatorHex, "keyring")}${ring}/record${SUFFIX}`,
    dataClass: "keyring",
    actorHex: operatorHex,
    objectName: `${ring}/record`,
  };
}

/** `bots/<operator>/keyring/<ring>/docs/<name>.enc`: a document, end-to-end encrypted inside. */
export function keyringDocLocation(operatorHex: string, ring: string, name: string): BlobLocation {
  checkName("ring", ring);
  checkName("document name", name);
  return {
    key: `${classPrefix(operatorHex, "keyring")}${ring}/docs/${name}${SUFFIX}`,
    dataClass: "keyring",
    actorHex: operatorHex,
    objectName: `${ring}/docs/${name}`,
  };
}

/** `bots/<actor>/keyring/member-key.enc`: the actor's published keyring member key. */
export function memberKeyLocation(actorHex: string): BlobLocation {
  return {
    key: `${classPrefix(actorHex, "keyring")}member-key${SUFFIX}`,
    dataClass: "keyring",
    actorHex,
    objectName: "member-key",
  };
}

/**
 * The inverse of the functions above: what a listed key is, or `undefined` for a key that is
 * not a well-formed blob key (the re-encryption job reports those instead of guessing).
 *
 * ```ts
 * parseBlobKey("bots/ab…/credentials/openai.enc")?.objectName; // "openai"
 * ```
 */
export function parseBlobKey(key: string): BlobLocation | undefined {
  const parts = key.split("/");
  if (parts[0] !== "bots" || !isOmniHex(parts[1]) || !key.endsWith(SUFFIX)) {
    return undefined;
  }
  const last = parts[parts.length - 1].slice(0, -SUFFIX.length);
  try {
    if (parts[2] === "credentials" && parts.length === 4) return credentialLocation(parts[1], last);
    if (parts[2] === "memory" && parts.length === 5) {
      return memoryLocation(parts[1], parts[3], last);
    }
    if (parts[2] === "inbound" && parts.length === 4) return inboundLocation(parts[1], last);
    if (parts[2] === "keyring") {
      if (parts.length === 4 && last === "member-key") return memberKeyLocation(parts[1]);
      if (parts.length === 5 && last === "record") return keyringRecordLocation(parts[1], parts[3]);
      if (parts.length === 6 && parts[4] === "docs") {
        return keyringDocLocation(parts[1], parts[3], last);
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}
