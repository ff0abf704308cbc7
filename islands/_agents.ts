/**
 * The Agents pages' pure parts: the device key file the browser offers (the very format of
 * `deno task cli agent add`), the services field, and what a chain refusal means to an
 * operator. No viem at run time, so `tests/console/agents_model.test.ts` checks every message
 * without a browser, and the islands load viem only when a transaction is sent.
 *
 * @module
 */

import { isAddress, isValidLabel, isValidName } from "../lib/identity/mod.ts";
import { ApiAnswerError } from "./_api.ts";
import { USER_REJECTED, walletErrorCode } from "./_wallet.ts";

/** Where scripts/build.ts puts `islands/_chain.ts`, bundled apart from the islands. */
export const CHAIN_MODULE = "/static/build/_chain.js";

/**
 * viem's wallet code, on first use. By URL rather than `import("./_chain.ts")`, so the bundler
 * makes it no chunk shared with the sign-in page (see scripts/build.ts).
 */
export function loadChain(): Promise<typeof import("./_chain.ts")> {
  return import(CHAIN_MODULE);
}

/** `mail-bot-0.key`: the name `deno task cli agent add` gives the file. */
export function keyFileName(label: string, generation: number): string {
  return `${label}-${generation}.key`;
}

/** The file's text: the 0x-hex private key and a newline, as `agent add` writes it. */
export function keyFileText(privateKey: string): string {
  return `${privateKey}\n`;
}

/** A checked registration form, or the sentence saying what to fix. */
export type AddAgentInput =
  | {
    ok: true;
    label: string;
    generation: number;
    device: { kind: "generate" } | { kind: "paste"; address: string; pop: string };
  }
  | { ok: false; field: "label" | "generation" | "address" | "pop"; error: string };

/** Checks the Add an agent form before anything is asked of the wallet. */
export function checkAddAgent(form: {
  label: string;
  generation: string;
  mode: "generate" | "paste";
  address: string;
  pop: string;
}): AddAgentInput {
  const label = form.label.trim();
  if (!isValidLabel(label)) {
    return {
      ok: false,
      field: "label",
      error: "A label is 1 to 32 lowercase letters, digits or hyphens (like mail-bot).",
    };
  }
  const generation = Number(form.generation.trim());
  if (form.generation.trim() === "" || !Number.isSafeInteger(generation) || generation < 0) {
    return {
      ok: false,
      field: "generation",
      error: "The generation is a whole number (0 or more).",
    };
  }
  if (form.mode === "generate") {
    return { ok: true, label, generation, device: { kind: "generate" } };
  }
  const address = form.address.trim();
  if (!isAddress(address)) {
    return {
      ok: false,
      field: "address",
      error: "The device address is 0x and 40 hex digits, as `agent init` printed it.",
    };
  }
  const pop = form.pop.trim();
  if (!/^0x[0-9a-fA-F]{130}$/.test(pop)) {
    return {
      ok: false,
      field: "pop",
      error: "The proof is 0x and 130 hex digits (a signature), as `agent init` printed it.",
    };
  }
  return { ok: true, label, generation, device: { kind: "paste", address, pop } };
}

/** The services field: names separated by commas or spaces, each by the one name rule. */
export function parseServices(text: string): { services: string[] } | { error: string } {
  const services = [...new Set(text.split(/[\s,]+/).filter((s) => s !== ""))];
  const bad = services.filter((s) => !isValidName(s));
  if (bad.length > 0) {
    return {
      error: `Not a service name: ${bad.join(", ")}. Names are lowercase letters, digits, ` +
        "dots, hyphens and underscores, starting with a letter or digit.",
    };
  }
  return { services };
}

/** What the contracts' custom errors mean, in words an operator can act on. */
const CONTRACT_ERRORS: Record<string, string> = {
  AgentAlreadyRegistered: "This label and generation are already registered for you. " +
    "Choose another label, or the next generation to re-issue the agent.",
  DeviceAlreadyRegistered: "This device key is already registered. Create a new device key.",
  InvalidDeviceProof: "The device's proof does not match this label, generation and operator " +
    "(or another chain). Run agent init again with these values and paste its new output.",
  InvalidLabel: "The chain refused the label: use 1 to 32 lowercase letters, digits or hyphens.",
  ZeroDeviceKeyHash: "The device key hash is empty; create a new device key.",
  UnknownDevice: "The chain does not know this agent's device.",
  NotDeviceOperator: "This agent belongs to another operator, so your wallet cannot change it.",
  AgentAlreadyRevoked: "This agent is already revoked.",
  NotYourAgent: "This agent belongs to another operator, so your wallet cannot change its scope.",
  AgentIsRevoked: "This agent is revoked; its scope can no longer change.",
  TooManyServices: "Too many services for one scope; the chain takes fewer.",
  ZeroServiceHash: "A service name hashed to zero; use another name.",
  DuplicateService: "A service is listed twice.",
  NoScope: "This agent has no scope to remove.",
};

/** The contract's custom error name inside a viem error (its `cause` chain), if any. */
export function contractErrorName(err: unknown): string | undefined {
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && depth < 10; depth++) {
    const data = e.data as { errorName?: unknown } | undefined;
    if (typeof data?.errorName === "string") return data.errorName;
    e = e.cause as Record<string, unknown> | undefined;
  }
  return undefined;
}

/** What went wrong with a chain transaction or a call around it, as a sentence. */
export function chainFailure(err: unknown, what: string): string {
  if (walletErrorCode(err) === USER_REJECTED || hasName(err, "UserRejectedRequestError")) {
    return `You declined the ${what} in your wallet, so nothing was sent.`;
  }
  const name = contractErrorName(err);
  if (name) {
    return `The chain refused the ${what} (${name}): ${
      CONTRACT_ERRORS[name] ?? "see the contract's documentation."
    }`;
  }
  if (hasName(err, "ChainMismatchError")) {
    return `Your wallet is on another chain. Switch it to this service's chain and try the ${what} again.`;
  }
  if (err instanceof ApiAnswerError) return `The service refused the ${what}: ${err.message}`;
  const e = err as { shortMessage?: unknown; message?: unknown } | null;
  const message = typeof e?.shortMessage === "string"
    ? e.shortMessage
    : typeof e?.message === "string"
    ? e.message
    : String(err);
  return `The ${what} failed: ${message}`;
}

function hasName(err: unknown, name: string): boolean {
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && depth < 10; depth++) {
    if (e.name === name) return true;
    e = e.cause as Record<string, unknown> | undefined;
  }
  return false;
}
