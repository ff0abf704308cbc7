/**
 * Agent login with the K10 device key: the device signs a fresh challenge (EIP-191
 * `personal_sign`); only a device registered on chain and not revoked gets a session, and that
 * session lasts at most 15 minutes (§7: proof of possession must be fresh).
 *
 * @module
 */

import { getAddress, isAddress, verifyMessage } from "viem";
import { confirmRefusal, deviceKeyHash } from "../identity/mod.ts";
import type { KvChallengeStore } from "../state/mod.ts";
import type { DeviceRecord, Hex, IdentityReader } from "./_identity.ts";
import { LoginError } from "./_errors.ts";

/** Device challenges are short: the device answers at once. */
export const DEVICE_CHALLENGE_TTL_MS = 5 * 60 * 1000;

interface Stored {
  deviceAddress: string;
  message: string;
}

/**
 * ```ts
 * const login = new DeviceLogin(challenges, identity, { domain: "127.0.0.1:8787" });
 * const { request_id, message } = await login.start(deviceAddress);
 * const { device } = await login.verify(request_id, await account.signMessage({ message }));
 * ```
 */
export class DeviceLogin {
  constructor(
    private readonly challenges: KvChallengeStore,
    private readonly identity: IdentityReader,
    private readonly options: { domain: string; now?: () => Date },
  ) {}

  async start(
    deviceAddress: unknown,
  ): Promise<{ request_id: string; message: string; expires_at: string }> {
    if (typeof deviceAddress !== "string" || !isAddress(deviceAddress, { strict: false })) {
      throw new LoginError(
        "bad_request",
        "device_address must be a 0x-prefixed 20-byte hex address",
      );
    }
    await this.#registered(deviceAddress);
    const now = this.options.now?.() ?? new Date();
    const expires = new Date(now.getTime() + DEVICE_CHALLENGE_TTL_MS);
    const message = [
      `${this.options.domain} asks this AgentKeys device to prove possession of its key.`,
      "",
      `Device: ${getAddress(deviceAddress)}`,
      `Nonce: ${crypto.getRandomValues(new Uint8Array(16)).toHex()}`,
      `Issued At: ${now.toISOString()}`,
      `Expiration Time: ${expires.toISOString()}`,
    ].join("\n");
    const request_id = await this.challenges.create<Stored>(
      "device",
      { deviceAddress: deviceAddress.toLowerCase(), message },
      expires.getTime(),
    );
    return { request_id, message, expires_at: expires.toISOString() };
  }

  async verify(
    requestId: unknown,
    signature: unknown,
  ): Promise<{ deviceAddress: string; deviceKeyHash: Hex; device: DeviceRecord }> {
    if (
      typeof requestId !== "string" || typeof signature !== "string" ||
      !/^0x[0-9a-fA-F]+$/.test(signature)
    ) {
      throw new LoginError("bad_request", "request_id and a 0x-hex signature are required");
    }
    const outcome = await this.challenges.consume<Stored>("device", requestId);
    if (outcome.status === "unknown") {
      throw new LoginError("challenge_unknown", "no such device login request");
    }
    if (outcome.status === "used") {
      throw new LoginError("challenge_used", "this device login request was already used");
    }
    if (outcome.status === "expired") {
      throw new LoginError("challenge_expired", "this device login request expired");
    }
    const { deviceAddress, message } = outcome.value;
    const ok = await verifyMessage({
      address: deviceAddress as Hex,
      message,
      signature: signature as Hex,
    }).catch(() => false);
    if (!ok) {
      throw new LoginError("signature_invalid", "the signature was not made by this device key");
    }
    // Read the chain again: a revocation between start and verify must win.
    const { hash, device } = await this.#registered(deviceAddress);
    return { deviceAddress, deviceKeyHash: hash, device };
  }

  #registered(deviceAddress: string): Promise<{ hash: Hex; device: DeviceRecord }> {
    // A device registered a moment ago must not be refused on a block one poll old.
    return confirmRefusal(this.identity, () => this.#registeredAt(deviceAddress));
  }

  async #registeredAt(deviceAddress: string): Promise<{ hash: Hex; device: DeviceRecord }> {
    const hash = deviceKeyHash(deviceAddress as Hex);
    const device = await this.identity.getDevice(hash);
    if (!device) throw new LoginError("device_unknown", "this device is not registered on chain");
    if (device.revoked) {
      throw new LoginError("device_revoked", "this device was revoked by its operator");
    }
    return { hash, device };
  }
}
