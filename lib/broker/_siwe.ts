/**
 * Operator login with Sign-In with Ethereum (EIP-4361), using `viem/siwe` to build and check
 * the message. The server composes and stores the message; the client only signs it, so the
 * domain, URI, chain id and expiry are ours — and re-validated anyway before a session is issued.
 *
 * @module
 */

import { getAddress, isAddress, verifyMessage } from "viem";
import {
  createSiweMessage,
  generateSiweNonce,
  parseSiweMessage,
  validateSiweMessage,
} from "viem/siwe";
import type { KvChallengeStore } from "../state/mod.ts";
import { LoginError } from "./_errors.ts";

/** SIWE challenges are valid for 10 minutes. */
export const SIWE_TTL_MS = 10 * 60 * 1000;

export interface SiweChallenge {
  request_id: string;
  message: string;
  nonce: string;
  expires_at: string;
}

interface Stored {
  address: string;
  message: string;
}

/**
 * ```ts
 * const siwe = new SiweLogin(challenges, { publicUrl: "http://127.0.0.1:8787", chainId: 31337 });
 * const { request_id, message } = await siwe.start(address, 31337);
 * const address = await siwe.verify(request_id, signature); // then issue a session
 * ```
 */
export class SiweLogin {
  readonly domain: string;
  constructor(
    private readonly challenges: KvChallengeStore,
    private readonly options: { publicUrl: string; chainId: number; now?: () => Date },
  ) {
    this.domain = new URL(options.publicUrl).host;
  }

  #now() {
    return this.options.now?.() ?? new Date();
  }

  /** Composes a single-use message for `address` on this service's chain. */
  async start(address: unknown, chainId: unknown): Promise<SiweChallenge> {
    if (typeof address !== "string" || !isAddress(address, { strict: false })) {
      throw new LoginError("bad_request", "address must be a 0x-prefixed 20-byte hex address");
    }
    if (chainId !== this.options.chainId) {
      throw new LoginError(
        "wrong_chain",
        `this service is on chain ${this.options.chainId}, not ${chainId}`,
      );
    }
    const issuedAt = this.#now();
    const expirationTime = new Date(issuedAt.getTime() + SIWE_TTL_MS);
    const nonce = generateSiweNonce();
    const message = createSiweMessage({
      domain: this.domain,
      address: getAddress(address),
      statement: "Sign in to AgentKeys as the operator of this wallet.",
      uri: this.options.publicUrl,
      version: "1",
      chainId: this.options.chainId,
      nonce,
      issuedAt,
      expirationTime,
    });
    const request_id = await this.challenges.create<Stored>(
      "siwe",
      { address: address.toLowerCase(), message },
      expirationTime.getTime(),
    );
    return { request_id, message, nonce, expires_at: expirationTime.toISOString() };
  }

  /** Consumes the challenge and checks the signature; returns the lowercase address. */
  async verify(requestId: unknown, signature: unknown): Promise<string> {
    if (
      typeof requestId !== "string" || typeof signature !== "string" ||
      !/^0x[0-9a-fA-F]+$/.test(signature)
    ) {
      throw new LoginError("bad_request", "request_id and a 0x-hex signature are required");
    }
    const outcome = await this.challenges.consume<Stored>("siwe", requestId);
    if (outcome.status === "unknown") {
      throw new LoginError("challenge_unknown", "no such sign-in request");
    }
    if (outcome.status === "used") {
      throw new LoginError("challenge_used", "this sign-in request was already used");
    }
    if (outcome.status === "expired") {
      throw new LoginError("challenge_expired", "this sign-in request expired");
    }
    const { address, message } = outcome.value;
    this.checkMessage(message, address);
    const ok = await verifyMessage({
      address: address as `0x${string}`,
      message,
      signature: signature as `0x${string}`,
    }).catch(() => false);
    if (!ok) throw new LoginError("signature_invalid", "the signature does not match the address");
    return address;
  }

  /**
   * Re-validates a SIWE message against this service: domain, URI, chain id, time window.
   * Exposed for tests of foreign-domain and expired messages.
   */
  checkMessage(message: string, address: string): void {
    const fields = parseSiweMessage(message);
    const valid = validateSiweMessage({
      message: fields,
      address: address as `0x${string}`,
      domain: this.domain,
      time: this.#now(),
    });
    if (!valid) {
      throw new LoginError(
        "message_invalid",
        "the sign-in message is expired or for another domain",
      );
    }
    if (fields.uri !== this.options.publicUrl) {
      throw new LoginError("message_invalid", "the sign-in message names another URI");
    }
    if (fields.chainId !== this.options.chainId) {
      throw new LoginError("wrong_chain", "the sign-in message names another chain");
    }
  }
}
