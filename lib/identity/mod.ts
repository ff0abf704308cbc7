/**
 * The identifiers of ARCHITECTURE §2, as pure functions: operator and agent omnis, device key
 * hashes, service hashes, the omni's two spellings (`0x…` on the wire, bare hex in object keys),
 * the one name rule (service names, memory namespaces and names, inbound message ids), labels, and
 * the identity-reader port the chain implements. Every other component checks identifiers here,
 * never with a pattern of its own. `contracts/AgentRegistry.sol` computes the same omnis on chain;
 * `tests/identity` checks that the two agree byte for byte, so a change to either side fails a
 * test. Browser-safe: viem only.
 *
 * ```ts
 * import { agentActorOmni, operatorOmniOf } from "./lib/identity/mod.ts";
 * const op = operatorOmniOf("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
 * const agent = agentActorOmni(op, "mail-bot", 0);
 * ```
 *
 * @module
 */

import { type Address, type Hex, hexToBytes, keccak256, sha256, toBytes } from "viem";
import { InvalidIdentifierError } from "./_errors.ts";

export type {
  DeviceRecord,
  IdentityEvent,
  IdentityEventFeed,
  IdentityReader,
  ScopeRecord,
} from "./_reader.ts";
export { confirmRefusal } from "./_reader.ts";

/** An omni as it travels on the wire: `0x` + 64 lowercase hex characters. */
export type Omni = `0x${string}`;

export { IDENTITY_ERROR_CODES } from "./_errors.ts";

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const OMNI = /^0x[0-9a-f]{64}$/;
const OMNI_HEX = /^[0-9a-f]{64}$/;
const LABEL = /^[a-z0-9-]{1,32}$/;
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** The name rule in words, for refusal messages. */
export const NAME_RULE = "^[a-z0-9][a-z0-9._-]{0,63}$ without '..'";
/** generation is a uint32 on chain. */
const MAX_GENERATION = 0xffff_ffff;

/** Whether `value` is an EVM address (`0x` + 40 hex, any case; checksums are not enforced). */
export function isAddress(value: string): boolean {
  return ADDRESS.test(value);
}

/**
 * The canonical (lowercase) form of an address; throws on anything else. §2 compares addresses
 * lowercase, and the operator omni hashes the lowercase text, so every caller normalises here.
 *
 * ```ts
 * normalizeAddress("0xF39F…2266"); // "0xf39f…2266"
 * ```
 */
export function normalizeAddress(address: string): Address {
  if (!isAddress(address)) throw new InvalidIdentifierError(`not an EVM address: ${address}`);
  return address.toLowerCase() as Address;
}

/**
 * Whether `value` is an omni in wire form (`0x` + 64 lowercase hex). Device key hashes and
 * service hashes have the same shape.
 *
 * ```ts
 * isOmni(operatorOmniOf(wallet)); // true
 * isOmni(omniToHex(operatorOmniOf(wallet))); // false: that is the object-key form
 * ```
 */
export function isOmni(value: unknown): value is Omni {
  return typeof value === "string" && OMNI.test(value);
}

/**
 * Whether `value` is an omni in object-key form (64 lowercase hex, no `0x`).
 *
 * ```ts
 * isOmniHex("ab".repeat(32)); // true
 * ```
 */
export function isOmniHex(value: unknown): value is string {
  return typeof value === "string" && OMNI_HEX.test(value);
}

/**
 * An omni in object-key form: the 64 hex characters without `0x` (`bots/<hex>/…`, KEK info,
 * envelope AAD, KV keys). Throws {@linkcode InvalidIdentifierError} unless `omni` is in wire form.
 *
 * ```ts
 * omniToHex("0xab…"); // "ab…"
 * ```
 */
export function omniToHex(omni: string): string {
  assertOmni(omni, "omni");
  return omni.slice(2);
}

/**
 * The wire form of an omni kept in object-key form; the inverse of {@linkcode omniToHex}.
 *
 * ```ts
 * omniFromHex("ab".repeat(32)); // "0xabab…"
 * ```
 */
export function omniFromHex(hex: string): Omni {
  if (!isOmniHex(hex)) {
    throw new InvalidIdentifierError(`omni hex must be 64 lowercase hex without 0x: ${hex}`);
  }
  return `0x${hex}`;
}

/** Whether `label` is a valid agent label, `^[a-z0-9-]{1,32}$`. */
export function isValidLabel(label: string): boolean {
  return LABEL.test(label);
}

/**
 * The one name rule (§2) for service names, memory namespaces, memory names and inbound message
 * ids: `^[a-z0-9][a-z0-9._-]{0,63}$` and never `..`, so no name can read as a path step in an
 * object key or a file store.
 *
 * ```ts
 * isValidName("api.openai-v1_x"); // true
 * isValidName("a..b"); // false
 * ```
 */
export function isValidName(name: unknown): name is string {
  return typeof name === "string" && NAME.test(name) && !name.includes("..");
}

/**
 * operator_omni = sha256("agentkeys" ‖ "evm" ‖ lowercase address text including `0x`).
 *
 * ```ts
 * operatorOmniOf("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"); // "0x…" (64 hex)
 * ```
 */
export function operatorOmniOf(address: string): Omni {
  return sha256(toBytes(`agentkeysevm${normalizeAddress(address)}`));
}

/**
 * An agent's actor_omni = sha256("agentkeys-hdkd-v1" ‖ 32 raw bytes of operator_omni ‖ "//" ‖
 * label ‖ "/" ‖ generation in decimal). Generation starts at 0; a re-issued agent takes the
 * next one.
 *
 * ```ts
 * agentActorOmni(operatorOmniOf(wallet), "mail-bot", 0);
 * ```
 */
export function agentActorOmni(operatorOmni: string, label: string, generation: number): Omni {
  assertOmni(operatorOmni, "operator omni");
  if (!isValidLabel(label)) {
    throw new InvalidIdentifierError(`agent label must match ^[a-z0-9-]{1,32}$: ${label}`);
  }
  if (!Number.isInteger(generation) || generation < 0 || generation > MAX_GENERATION) {
    throw new InvalidIdentifierError(`generation must be an integer 0..${MAX_GENERATION}`);
  }
  const prefix = toBytes("agentkeys-hdkd-v1");
  const omni = hexToBytes(operatorOmni as Hex);
  const suffix = toBytes(`//${label}/${generation}`);
  const input = new Uint8Array(prefix.length + omni.length + suffix.length);
  input.set(prefix, 0);
  input.set(omni, prefix.length);
  input.set(suffix, prefix.length + omni.length);
  return sha256(input);
}

/**
 * device_key_hash = keccak256 of the device address's 20 raw bytes (not of its text).
 *
 * ```ts
 * deviceKeyHash(privateKeyToAccount(k10).address);
 * ```
 */
export function deviceKeyHash(deviceAddress: string): Hex {
  return keccak256(hexToBytes(normalizeAddress(deviceAddress)));
}

/** What a device proves it consents to when an operator registers it (ARCHITECTURE §6). */
export interface DevicePopParams {
  chainId: number;
  /** The AgentRegistry the registration is sent to. */
  registry: string;
  operatorOmni: string;
  label: string;
  generation: number;
}

/**
 * The ASCII message a device key signs (EIP-191 `personal_sign`) so that `registerAgent` accepts
 * it: "agentkeys-register:v1:" ‖ chain id ‖ ":" ‖ registry ‖ ":" ‖ operator omni ‖ ":" ‖ label ‖
 * ":" ‖ generation. `AgentRegistry.devicePopMessage` builds the same bytes on chain.
 *
 * ```ts
 * const devicePop = await device.signMessage({
 *   message: devicePopMessage({ chainId, registry, operatorOmni, label: "mail-bot", generation: 0 }),
 * });
 * ```
 */
export function devicePopMessage(p: DevicePopParams): string {
  // agentActorOmni validates omni, label and generation with the very rules the contract uses.
  agentActorOmni(p.operatorOmni, p.label, p.generation);
  if (!Number.isSafeInteger(p.chainId) || p.chainId <= 0) {
    throw new InvalidIdentifierError(`chain id must be a positive integer: ${p.chainId}`);
  }
  const registry = normalizeAddress(p.registry);
  return `agentkeys-register:v1:${p.chainId}:${registry}:${p.operatorOmni}:${p.label}:${p.generation}`;
}

/**
 * The device's proof of possession for `registerAgent`: its EIP-191 signature over
 * {@linkcode devicePopMessage}.
 *
 * ```ts
 * const pop = await signDevicePop(privateKeyToAccount(k10), { chainId, registry, operatorOmni, label, generation });
 * ```
 */
export function signDevicePop(
  device: { signMessage(args: { message: string }): Promise<Hex> },
  params: DevicePopParams,
): Promise<Hex> {
  return device.signMessage({ message: devicePopMessage(params) });
}

/**
 * The on-chain key of a service: keccak256(bytes(name)), after validating the name.
 *
 * ```ts
 * serviceHash("openai"); // what ScopeRegistry stores for "openai"
 * ```
 */
export function serviceHash(name: string): Hex {
  const known = SERVICE_HASHES.get(name);
  if (known !== undefined) return known;
  if (!isValidName(name)) {
    throw new InvalidIdentifierError(`service name must match ${NAME_RULE}: ${name}`);
  }
  const hash = keccak256(toBytes(name));
  // keccak in JavaScript was ~7% of a cap mint + fetch; a deployment names few services.
  if (SERVICE_HASHES.size >= SERVICE_HASHES_MAX) SERVICE_HASHES.clear();
  SERVICE_HASHES.set(name, hash);
  return hash;
}

/** Memo of {@linkcode serviceHash} (valid names only), bounded so odd names cannot grow it. */
const SERVICE_HASHES = new Map<string, Hex>();
const SERVICE_HASHES_MAX = 4_096;

function assertOmni(value: string, what: string): void {
  if (!isOmni(value)) {
    throw new InvalidIdentifierError(`${what} must be 0x + 64 lowercase hex: ${value}`);
  }
}
