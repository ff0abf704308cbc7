/**
 * What a client checks before it signs a login message the server composed: a server (or
 * anything between) must not obtain a signature that logs this wallet or device in somewhere
 * else. The SIWE message must name the service the client was told to use (domain and URI), the
 * chain id it asked for and its own address; the device challenge must have the broker's exact
 * shape (lib/broker/_device_login.ts) for the same domain and device.
 *
 * @module
 */

import { parseSiweMessage } from "viem/siwe";

/** The part of a login message that did not match what the client expected. */
export type LoginMessageField = "format" | "domain" | "uri" | "chain_id" | "address";

/** A login message for another service, chain or signer: nothing was signed. */
export class LoginMessageMismatch extends Error {
  constructor(
    readonly field: LoginMessageField,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `refusing to sign: the login message's ${field} is ${actual || "(missing)"}, ` +
        `expected ${expected}`,
    );
    this.name = "LoginMessageMismatch";
  }
}

/** `http://host:port` without a trailing slash, as the service's public URL is configured. */
function normalUrl(url: string): string {
  return new URL(url).href.replace(/\/+$/, "");
}

/**
 * Throws {@linkcode LoginMessageMismatch} unless `message` is an EIP-4361 message for the
 * service at `url` (domain = its host, URI = the URL), on `chainId`, for `address`.
 *
 * ```ts
 * checkSiweMessage(start.message, { url: "http://127.0.0.1:8787", chainId: 31337, address });
 * ```
 */
export function checkSiweMessage(
  message: string,
  expected: { url: string; chainId: number; address: string },
): void {
  const fields = parseSiweMessage(message);
  if (fields.version !== "1" || !fields.domain || !fields.uri) {
    throw new LoginMessageMismatch("format", "an EIP-4361 (SIWE) message", "something else");
  }
  const host = new URL(expected.url).host;
  if (fields.domain !== host) throw new LoginMessageMismatch("domain", host, fields.domain);
  const url = normalUrl(expected.url);
  let uri: string;
  try {
    uri = normalUrl(fields.uri);
  } catch {
    throw new LoginMessageMismatch("uri", url, fields.uri);
  }
  if (uri !== url) throw new LoginMessageMismatch("uri", url, fields.uri);
  if (fields.chainId !== expected.chainId) {
    throw new LoginMessageMismatch("chain_id", String(expected.chainId), String(fields.chainId));
  }
  if (fields.address?.toLowerCase() !== expected.address.toLowerCase()) {
    throw new LoginMessageMismatch("address", expected.address, fields.address ?? "");
  }
}

const DEVICE_MESSAGE =
  /^(?<domain>\S+) asks this AgentKeys device to prove possession of its key\.\n\nDevice: (?<device>0x[0-9a-fA-F]{40})\nNonce: [0-9a-f]{32}\nIssued At: \S+\nExpiration Time: \S+$/;

/**
 * Throws {@linkcode LoginMessageMismatch} unless `message` is the broker's device challenge for
 * the service at `url` and this `device` address.
 *
 * ```ts
 * checkDeviceMessage(start.message, { url: "http://127.0.0.1:8787", device: account.address });
 * ```
 */
export function checkDeviceMessage(
  message: string,
  expected: { url: string; device: string },
): void {
  const m = DEVICE_MESSAGE.exec(message);
  if (!m?.groups) {
    throw new LoginMessageMismatch("format", "an AgentKeys device challenge", "something else");
  }
  const host = new URL(expected.url).host;
  if (m.groups.domain !== host) throw new LoginMessageMismatch("domain", host, m.groups.domain);
  if (m.groups.device.toLowerCase() !== expected.device.toLowerCase()) {
    throw new LoginMessageMismatch("address", expected.device, m.groups.device);
  }
}
