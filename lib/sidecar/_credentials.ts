/**
 * The sidecar's way to a credential: device login with the agent's K10 key, a cred-fetch cap
 * for the service, then the fetch — all through the AgentKeys service.
 *
 * @module
 */

import { privateKeyToAccount } from "viem/accounts";
import {
  AgentKeysClient,
  type AgentStreamEvent,
  ApiCallError,
  type MessageSigner,
} from "../client/mod.ts";
import { KeyringMember, type KeyringTransport } from "../keyrings/mod.ts";
import { type KeyringSource, SeenInMemory } from "./_keyrings.ts";

/** Something that returns the current secret of a service. */
export interface CredentialSource {
  fetch(service: string): Promise<string>;
}

/** The device key file is missing, readable by others, or not a key. */
export class DeviceKeyRefused extends Error {
  override name = "DeviceKeyRefused";
}

/**
 * Reads a device key file as `deno task cli agent add` writes it (hex, 0600).
 *
 * ```ts
 * const device = await readDeviceKey("~/.agentkeys/devices/bot-0.key");
 * ```
 */
export async function readDeviceKey(path: string): Promise<MessageSigner> {
  const st = await Deno.stat(path);
  if (st.mode !== null && (st.mode & 0o077) !== 0) {
    throw new DeviceKeyRefused(`${path} is readable by others; chmod 600 it`);
  }
  const raw = (await Deno.readTextFile(path)).trim();
  const hex = raw.startsWith("0x") ? raw : `0x${raw}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) {
    throw new DeviceKeyRefused(`${path} does not hold a 32-byte hex key`);
  }
  return privateKeyToAccount(hex as `0x${string}`);
}

// Agent sessions last 15 minutes; renew well before so a request never races the expiry.
const SESSION_REUSE_MS = 10 * 60_000;

/** Fetches credentials and keyring documents as the agent whose device key this is. */
export class ServiceCredentials implements CredentialSource, KeyringSource {
  readonly #base: AgentKeysClient;
  /** The agent as a keyring member: its member key is derived once, on first use. */
  #member?: Promise<KeyringMember>;
  readonly #seen = new SeenInMemory();
  #session?: {
    api: AgentKeysClient;
    target: { operator_omni: string; actor_omni: string };
    until: number;
  };

  constructor(url: string, private readonly device: MessageSigner, fetchFn?: typeof fetch) {
    this.#base = new AgentKeysClient(url, undefined, fetchFn ? { fetch: fetchFn } : {});
  }

  async fetch(service: string): Promise<string> {
    try {
      return await this.#fetchOnce(service);
    } catch (err) {
      if (!(err instanceof ApiCallError && err.sessionEnded)) throw err;
      this.#session = undefined;
      return await this.#fetchOnce(service);
    }
  }

  /**
   * A keyring document's plaintext: a keyring-get cap through the device session, the document,
   * the ring record (operator's signature, history, never older than one seen before), the group
   * key of the document's rotation unwrapped with the member key, then the document opened.
   */
  async document(ring: string, name: string): Promise<Uint8Array> {
    this.#member ??= this.#openMember().catch((err) => {
      this.#member = undefined;
      throw err;
    });
    return await (await this.#member).get(ring, name);
  }

  async #openMember(): Promise<KeyringMember> {
    const { target } = await this.#current();
    const transport: KeyringTransport = {
      call: (method, path, body, token) => this.#call(method, path, body, token),
    };
    const signer = {
      address: this.device.address,
      signMessage: async (args: { message: string }) =>
        (await this.device.signMessage(args)) as `0x${string}`,
    };
    return await KeyringMember.open(transport, target, signer, this.#seen);
  }

  /** One call on the current session (or with a cap); a session the service ended is renewed once. */
  async #call<T>(
    method: "GET" | "POST" | "PUT",
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<T> {
    try {
      return await (await this.#current()).api.call<T>(method, path, body, token);
    } catch (err) {
      if (token !== undefined || !(err instanceof ApiCallError && err.sessionEnded)) throw err;
      this.#session = undefined;
      return await (await this.#current()).api.call<T>(method, path, body);
    }
  }

  /**
   * The agent's event stream (`GET /v1/agents/events`) on the current session; a session the
   * service says is over is replaced once.
   */
  async *events(signal?: AbortSignal, idleMs?: number): AsyncGenerator<AgentStreamEvent> {
    for (let attempt = 0;; attempt++) {
      const { api } = await this.#current();
      try {
        yield* api.agentEvents(idleMs, signal);
        return;
      } catch (err) {
        if (attempt > 0 || !(err instanceof ApiCallError && err.sessionEnded)) throw err;
        this.#session = undefined;
      }
    }
  }

  async #fetchOnce(service: string): Promise<string> {
    const { api, target } = await this.#current();
    const { cap } = await api.mintCap("cred-fetch", { ...target, service });
    const r = await api.fetchCredential(cap);
    return new TextDecoder().decode(r.plaintext).trim();
  }

  async #current() {
    if (!this.#session || this.#session.until <= Date.now()) {
      const login = await this.#base.loginWithDevice(this.device);
      this.#session = {
        api: this.#base.withSession(login.session_jwt),
        target: { operator_omni: login.operator_omni, actor_omni: login.actor_omni },
        until: Date.now() + SESSION_REUSE_MS,
      };
    }
    return this.#session;
  }
}
