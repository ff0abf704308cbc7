/**
 * A keyring document, encrypted end to end before the service sees it:
 *
 * ```
 * bytes 0..3    "AKD1"
 * bytes 4..7    rotation (uint32, big-endian): which group key wraps the content key
 * bytes 8..19   nonce of the content-key wrap
 * bytes 20..67  content key (32) under GK_rotation, AES-256-GCM ‖ tag
 * bytes 68..79  nonce of the body
 * bytes 80..    body under the content key, AES-256-GCM ‖ tag
 * ```
 *
 * Both AADs bind operator, ring, document name and rotation, so a document copied to another
 * name or ring, or relabelled with another rotation, fails to open. The worker then seals these
 * bytes in the ordinary K3 envelope; it can read the rotation, nothing else.
 *
 * @module
 */

import { KeyringError } from "./_errors.ts";

const MAGIC = [0x41, 0x4b, 0x44, 0x31]; // "AKD1"
const HEADER = 80;
/** Bytes a document adds to its plaintext. */
export const DOCUMENT_OVERHEAD = HEADER + 16;
const utf8 = new TextEncoder();
/** Bytes WebCrypto accepts (not a view of a SharedArrayBuffer). */
type Bytes = Uint8Array<ArrayBuffer>;

/** Where a document lives; bound into both AADs. */
export interface DocumentContext {
  operator_omni: string;
  ring: string;
  name: string;
}

function aad(kind: "key" | "body", c: DocumentContext, rotation: number): Bytes {
  return utf8.encode(
    `agentkeys.keyring-doc-${kind}.v1|${c.operator_omni}|${c.ring}|${c.name}|${rotation}`,
  );
}

async function aes(key: Bytes, usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", key, "AES-GCM", false, [usage]);
}

/**
 * Encrypts `plaintext` under a fresh content key wrapped with the group key of `rotation`.
 *
 * ```ts
 * const bytes = await sealDocument({ operator_omni, ring, name: "api-key" }, 1, gk1, secret);
 * ```
 */
export async function sealDocument(
  context: DocumentContext,
  rotation: number,
  groupKey: Bytes,
  plaintext: Bytes,
): Promise<Bytes> {
  const contentKey = crypto.getRandomValues(new Uint8Array(32));
  const out = new Uint8Array(HEADER + plaintext.length + 16);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, rotation);
  const keyNonce = crypto.getRandomValues(new Uint8Array(12));
  const wrapped = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: keyNonce, additionalData: aad("key", context, rotation) },
      await aes(groupKey, "encrypt"),
      contentKey,
    ),
  );
  out.set(keyNonce, 8);
  out.set(wrapped, 20);
  const bodyNonce = crypto.getRandomValues(new Uint8Array(12));
  out.set(bodyNonce, 68);
  const body = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: bodyNonce, additionalData: aad("body", context, rotation) },
    await aes(contentKey, "encrypt"),
    plaintext,
  );
  out.set(new Uint8Array(body), HEADER);
  contentKey.fill(0);
  return out;
}

/**
 * The rotation a document was written under (what the worker checks against the ring), or a
 * `document_invalid` error for bytes that are not a keyring document.
 *
 * ```ts
 * documentRotation(bytes); // 1
 * ```
 */
export function documentRotation(bytes: Uint8Array): number {
  if (bytes.length < DOCUMENT_OVERHEAD || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new KeyringError("document_invalid", "not a keyring document (AKD1)");
  }
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4);
}

/**
 * Opens a document; `groupKeyOf(rotation)` supplies the group key of the rotation it names
 * (see `groupKeyFor`). Any failed tag is `document_invalid`; no partial plaintext.
 *
 * ```ts
 * const text = await openDocument(ctx, bytes, (r) => groupKeyFor(record, r, me, myKey));
 * ```
 */
export async function openDocument(
  context: DocumentContext,
  bytes: Bytes,
  groupKeyOf: (rotation: number) => Promise<Bytes>,
): Promise<Bytes> {
  const rotation = documentRotation(bytes);
  const groupKey = await groupKeyOf(rotation);
  let contentKey: Bytes;
  try {
    contentKey = new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: bytes.subarray(8, 20),
          additionalData: aad("key", context, rotation),
        },
        await aes(groupKey, "decrypt"),
        bytes.subarray(20, 68),
      ),
    );
  } catch (err) {
    throw new KeyringError(
      "document_invalid",
      `the content key does not open with the group key of rotation ${rotation}`,
      { cause: err },
    );
  }
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: bytes.subarray(68, 80),
          additionalData: aad("body", context, rotation),
        },
        await aes(contentKey, "decrypt"),
        bytes.subarray(HEADER),
      ),
    );
  } catch (err) {
    throw new KeyringError("document_invalid", "the document body fails authentication", {
      cause: err,
    });
  } finally {
    contentKey.fill(0);
  }
}
