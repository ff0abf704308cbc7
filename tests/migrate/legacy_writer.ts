/**
 * An independent writer of the reference implementation's credential format (issue 13), for
 * tests: WebCrypto AES-GCM, WebCrypto SHA-256 and viem's `signMessage` — none of lib/migrate's
 * code — so a test that migrates these blobs checks lib/migrate against the specification, not
 * against itself.
 *
 * @module
 */

import type { PrivateKeyAccount } from "viem/accounts";
import { hexToBytes } from "viem";

const utf8 = (s: string) => new TextEncoder().encode(s);

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** The v2 path segment: hex SHA-256("agentkeys" ‖ "evm" ‖ lowercase wallet). */
export async function walletOmniHex(wallet: string): Promise<string> {
  const digest = await sha256(concat(utf8("agentkeys"), utf8("evm"), utf8(wallet.toLowerCase())));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A legacy blob and its key, as the reference implementation's S3 backend writes it. */
export async function legacyBlob(
  signer: PrivateKeyAccount,
  walletIn: string,
  service: string,
  version: 1 | 2,
  plaintext: string,
): Promise<{ key: string; bytes: Uint8Array }> {
  const wallet = walletIn.toLowerCase();
  const signature = hexToBytes(
    await signer.signMessage({ message: `agentkeys.kek.v1:${wallet}:${service}` }),
  );
  const kek = await sha256(concat(utf8("agentkeys.kek-derive.v1"), signature));
  const key = await crypto.subtle.importKey(
    "raw",
    kek as Uint8Array<ArrayBuffer>,
    "AES-GCM",
    false,
    [
      "encrypt",
    ],
  );
  const omni = await walletOmniHex(wallet);
  const aad = version === 1
    ? `agentkeys.cred.aad.v1|${wallet}|${service}`
    : `agentkeys.cred.aad.v2|${omni}|${service}`;
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: utf8(aad), tagLength: 128 },
      key,
      utf8(plaintext),
    ),
  );
  return {
    key: version === 1
      ? `bots/${wallet}/credentials/${service}.enc`
      : `bots/${omni}/credentials/${service}.enc`,
    bytes: concat(new Uint8Array([version]), nonce, sealed),
  };
}
