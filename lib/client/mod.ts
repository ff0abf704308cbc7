/**
 * A typed client of the AgentKeys HTTP API (API.md), used by the CLI, the headless
 * re-encryption client and the benchmarks — everything scriptable goes through the same wire
 * contract the console uses.
 *
 * ```ts
 * import { AgentKeysClient } from "./lib/client/mod.ts";
 * const api = new AgentKeysClient("http://127.0.0.1:8787");
 * const session = await api.loginWithWallet(account);
 * const { cap } = await api.withSession(session).mintCap("cred-fetch", { operator_omni, actor_omni, service: "openai" });
 * ```
 *
 * @module
 */

import { checkDeviceMessage, checkSiweMessage } from "./_login_check.ts";

export {
  checkDeviceMessage,
  checkSiweMessage,
  type LoginMessageField,
  LoginMessageMismatch,
} from "./_login_check.ts";
export { EventStreamLost, RemoteError, RemoteJobClient } from "./_jobs.ts";
export { type SseMessage, SseParser } from "./_sse.ts";

/** An error answer of the API: `{error, message}` with its status. */
export class ApiCallError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(`${code} (${status}): ${message}`);
    this.name = "ApiCallError";
  }
}

/** Anything that can sign an EIP-191 message (a viem account). */
export interface MessageSigner {
  address: string;
  signMessage(args: { message: string }): Promise<string>;
}

export type CapRoute =
  | "cred-store"
  | "cred-fetch"
  | "cred-teardown"
  | "memory-put"
  | "memory-get"
  | "memory-teardown";

/** What `GET /v1/chain` returns. */
export interface ChainInfo {
  chain_id: number;
  /**
   * Embedded chain only: the service's JSON-RPC proxy (`<service URL>/v1/chain/rpc`), which
   * forwards standard reads and `eth_sendRawTransaction` (sign locally) and refuses the rest.
   */
  rpc_url?: string;
  contracts: Record<
    "AgentRegistry" | "ScopeRegistry" | "K3EpochCounter" | "AuditAnchor",
    { address: `0x${string}`; abi: unknown[] }
  >;
}

export class AgentKeysClient {
  constructor(readonly url: string, readonly token?: string) {
    this.url = url.replace(/\/+$/, "");
  }

  /** The same client, authenticating with `token` (a session JWT or a cap). */
  withSession(token: string): AgentKeysClient {
    return new AgentKeysClient(this.url, token);
  }

  /** Sends a request; returns the parsed JSON or throws {@linkcode ApiCallError}. */
  async call<T = Record<string, unknown>>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    token = this.token,
  ): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiCallError(
        0,
        "unreachable",
        `cannot reach ${this.url}: ${(err as Error).message}`,
      );
    }
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new ApiCallError(res.status, "bad_response", `${path} answered non-JSON`);
    }
    if (!res.ok) {
      throw new ApiCallError(
        res.status,
        String(json.error ?? "error"),
        String(json.message ?? text),
      );
    }
    return json as T;
  }

  /**
   * SIWE login with a wallet; returns the session JWT. The message is checked against this
   * client's URL, `chainId` and the wallet before it is signed ({@linkcode LoginMessageMismatch}).
   */
  async loginWithWallet(
    wallet: MessageSigner,
    chainId?: number,
  ): Promise<{ session_jwt: string; operator_omni: string }> {
    const chain = chainId ?? (await this.chain()).chain_id;
    const start = await this.call<{ request_id: string; message: string }>(
      "POST",
      "/v1/auth/siwe/start",
      {
        address: wallet.address,
        chain_id: chain,
      },
    );
    checkSiweMessage(start.message, { url: this.url, chainId: chain, address: wallet.address });
    const signature = await wallet.signMessage({ message: start.message });
    return await this.call("POST", "/v1/auth/siwe/verify", {
      request_id: start.request_id,
      signature,
    });
  }

  /**
   * Device login with an agent's K10 key; returns the 15-minute agent session. The challenge is
   * checked against this client's URL and the device before it is signed.
   */
  async loginWithDevice(
    device: MessageSigner,
  ): Promise<{ session_jwt: string; operator_omni: string; actor_omni: string }> {
    const start = await this.call<{ request_id: string; message: string }>(
      "POST",
      "/v1/auth/device/start",
      {
        device_address: device.address,
      },
    );
    checkDeviceMessage(start.message, { url: this.url, device: device.address });
    const signature = await device.signMessage({ message: start.message });
    return await this.call("POST", "/v1/auth/device/verify", {
      request_id: start.request_id,
      signature,
    });
  }

  /** `POST /v1/auth/claim-admin` with this client's operator session. */
  claimAdmin(token: string): Promise<{ address: string; claimed_at: string; is_admin: true }> {
    return this.call("POST", "/v1/auth/claim-admin", { token });
  }

  chain(): Promise<ChainInfo> {
    return this.call("GET", "/v1/chain");
  }

  me(): Promise<
    Record<string, unknown> & { operator_omni: string; agents: Record<string, unknown>[] }
  > {
    return this.call("GET", "/v1/operators/me");
  }

  /** `POST /v1/agents/purge`: deletes every blob of this operator's revoked agent. */
  purgeAgent(actorOmni: string): Promise<{ deleted: number }> {
    return this.call("POST", "/v1/agents/purge", { actor_omni: actorOmni });
  }

  mintCap(
    route: CapRoute,
    body: Record<string, unknown>,
  ): Promise<{ cap: string; expires_at: string; k3_epoch: number }> {
    return this.call("POST", `/v1/cap/${route}`, body);
  }

  /** Stores a credential with a store cap. */
  storeCredential(
    cap: string,
    plaintext: Uint8Array,
  ): Promise<{ key: string; epoch: number; size: number; etag: string }> {
    return this.call("POST", "/v1/cred/store", { plaintext_b64: plaintext.toBase64() }, cap);
  }

  /** Fetches a credential with a fetch cap. */
  async fetchCredential(
    cap: string,
  ): Promise<{ plaintext: Uint8Array; epoch: number; rewrapped: boolean }> {
    const r = await this.call<{ plaintext_b64: string; epoch: number; rewrapped: boolean }>(
      "POST",
      "/v1/cred/fetch",
      {},
      cap,
    );
    return {
      plaintext: Uint8Array.fromBase64(r.plaintext_b64),
      epoch: r.epoch,
      rewrapped: r.rewrapped,
    };
  }

  teardownCredential(cap: string): Promise<{ deleted: number }> {
    return this.call("POST", "/v1/cred/teardown", {}, cap);
  }
}
