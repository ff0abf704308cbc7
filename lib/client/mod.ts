/**
 * The typed client of the whole AgentKeys HTTP API (API.md), used by the CLIs, the benchmarks
 * and the web console — everything scriptable goes through the same wire contract. Browser-safe:
 * `fetch` and Web APIs only, no `node:` modules or Deno file APIs (tests/boundaries.test.ts).
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

import type { JobEvent, JobRecord, JobRequest } from "../state/mod.ts";
import { checkDeviceMessage, checkSiweMessage } from "./_login_check.ts";
import { SseParser } from "./_sse.ts";
import { type AgentStreamEvent, readAgentEvents } from "./_agent_events.ts";

import { ApiCallError, EventStreamLost } from "./_errors.ts";

export { checkSiweMessage, LoginMessageMismatch } from "./_login_check.ts";
export { ApiCallError } from "./_errors.ts";
export { type AgentStreamEvent } from "./_agent_events.ts";

/** A job record as the API shows it (`GET /v1/reencrypt/jobs/:id`): no owner or heartbeat. */
type JobView = Omit<JobRecord, "owner" | "heartbeat_at">;

/** How an {@linkcode AgentKeysClient} talks; every field has a default. */
interface ClientOptions {
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Consecutive failed (re)connects of a job's event stream before giving up. Default 8. */
  maxReconnects?: number;
  /** First reconnect delay; doubles up to 5 s. Default 250 ms. */
  retryDelayMs?: number;
}

/** Anything that can sign an EIP-191 message (a viem account). */
export interface MessageSigner {
  address: string;
  signMessage(args: { message: string }): Promise<string>;
}

type CapRoute =
  | "cred-store"
  | "cred-fetch"
  | "cred-teardown"
  | "memory-put"
  | "memory-get"
  | "memory-teardown"
  | "inbound-put"
  | "inbound-get"
  | "inbound-teardown";

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
  readonly #fetch: typeof fetch;

  constructor(readonly url: string, readonly token?: string, readonly options: ClientOptions = {}) {
    this.url = url.replace(/\/+$/, "");
    // Called as a plain function: browsers refuse `fetch` called as another object's method.
    const f = options.fetch ?? ((input, init) => fetch(input, init));
    this.#fetch = f;
  }

  /** The same client, authenticating with `token` (a session JWT or a cap). */
  withSession(token: string): AgentKeysClient {
    return new AgentKeysClient(this.url, token, this.options);
  }

  /** Sends a request; returns the parsed JSON or throws {@linkcode ApiCallError}. */
  async call<T = Record<string, unknown>>(
    method: "GET" | "POST" | "PUT",
    path: string,
    body?: unknown,
    token = this.token,
  ): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await this.#fetch(`${this.url}${path}`, {
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
    return await answerOf<T>(res, path);
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

  /**
   * `GET /v1/cred/list`: a page of an actor's credentials (names and metadata, no plaintext);
   * pass the answer's `next_cursor` back as `cursor` for the next page until it is null.
   */
  listCredentials(
    actorOmni: string,
    options: { cursor?: string; limit?: number } = {},
  ): Promise<{
    items: { service: string; epoch: number | null; size: number; updated_at: string }[];
    next_cursor: string | null;
  }> {
    const query = new URLSearchParams({ actor_omni: actorOmni });
    if (options.cursor !== undefined) query.set("cursor", options.cursor);
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    return this.call("GET", `/v1/cred/list?${query}`);
  }

  /** `POST /v1/inbound/put` with an `inbound-put` cap; the id is generated when absent. */
  putInbound(
    cap: string,
    plaintext: Uint8Array,
    messageId?: string,
  ): Promise<{ message_id: string; epoch: number; size: number }> {
    const body = { plaintext_b64: plaintext.toBase64(), message_id: messageId };
    return this.call("POST", "/v1/inbound/put", body, cap);
  }

  /** `POST /v1/inbound/get` with an `inbound-get` cap. */
  async getInbound(
    cap: string,
    messageId: string,
  ): Promise<{ plaintext: Uint8Array; epoch: number; rewrapped: boolean }> {
    const r = await this.call<{ plaintext_b64: string; epoch: number; rewrapped: boolean }>(
      "POST",
      "/v1/inbound/get",
      { message_id: messageId },
      cap,
    );
    return {
      plaintext: Uint8Array.fromBase64(r.plaintext_b64),
      epoch: r.epoch,
      rewrapped: r.rewrapped,
    };
  }

  /** `POST /v1/inbound/list` with an `inbound-get` cap: a page of the inbox, oldest first. */
  listInbound(
    cap: string,
    options: { cursor?: string; limit?: number } = {},
  ): Promise<{
    items: { message_id: string; epoch: number | null; size: number; received_at: string }[];
    next_cursor: string | null;
  }> {
    return this.call("POST", "/v1/inbound/list", options, cap);
  }

  /** `POST /v1/inbound/teardown`: one message, or the whole inbox without `messageId`. */
  teardownInbound(cap: string, messageId?: string): Promise<{ deleted: number }> {
    return this.call("POST", "/v1/inbound/teardown", { message_id: messageId }, cap);
  }

  /** `POST /v1/reencrypt/jobs`: starts a re-encryption job (409 `job_running` carries `job_id`). */
  startJob(request: JobRequest): Promise<JobView> {
    return this.call("POST", "/v1/reencrypt/jobs", request);
  }

  /** `GET /v1/reencrypt/jobs/:id`. */
  job(jobId: string): Promise<JobView> {
    return this.call("GET", `/v1/reencrypt/jobs/${encodeURIComponent(jobId)}`);
  }

  /** `GET /v1/reencrypt/jobs`: the most recent jobs this session may see, newest first. */
  async jobs(): Promise<JobView[]> {
    return (await this.call<{ jobs: JobView[] }>("GET", "/v1/reencrypt/jobs")).jobs;
  }

  /** `POST /v1/reencrypt/jobs/:id/cancel`: the record as it was when the cancel was asked. */
  cancelJob(jobId: string): Promise<JobView> {
    return this.call("POST", `/v1/reencrypt/jobs/${encodeURIComponent(jobId)}/cancel`);
  }

  /**
   * The job's events after `lastEventId` (`GET /v1/reencrypt/jobs/:id/events`), until `end`,
   * each once and in order. A stream that breaks is reopened with `Last-Event-ID`; a refusal
   * (4xx) throws {@linkcode ApiCallError}; more than `maxReconnects` failed connects in a row
   * throw {@linkcode EventStreamLost}. Leaving the loop closes the stream.
   *
   * ```ts
   * for await (const e of api.followJob(jobId)) {
   *   if (e.event === "summary") console.log(e.data.state);
   * }
   * ```
   */
  async *followJob(
    jobId: string,
    options: { lastEventId?: number; jobs?: "reencrypt" | "migrate" } = {},
  ): AsyncGenerator<JobEvent> {
    // `migrate`: a migrate-legacy job (issue 13), whose stream has the same shape.
    const path = `/v1/${options.jobs ?? "reencrypt"}/jobs/${encodeURIComponent(jobId)}/events`;
    const max = this.options.maxReconnects ?? 8;
    const baseDelay = this.options.retryDelayMs ?? 250;
    let last = options.lastEventId ?? 0;
    let failures = 0;
    for (;;) {
      let progressed = false;
      let failure: unknown = new Error("the stream ended before the job's end event");
      try {
        const headers: Record<string, string> = { accept: "text/event-stream" };
        if (this.token) headers.authorization = `Bearer ${this.token}`;
        if (last > 0) headers["last-event-id"] = String(last);
        let res: Response;
        try {
          res = await this.#fetch(`${this.url}${path}`, { headers });
        } catch (err) {
          throw new ApiCallError(0, "unreachable", `cannot reach ${this.url}: ${err}`);
        }
        if (!res.ok) await answerOf(res, path); // throws the answer's error
        if (!res.body) throw new Error("the event stream has no body");
        const parser = new SseParser();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            for (const message of parser.push(value)) {
              const id = Number(message.id);
              // A replay after a reconnect may repeat what was seen; anything unknown is skipped.
              if (!Number.isSafeInteger(id) || id <= last || !JOB_EVENTS.has(message.event)) {
                continue;
              }
              const event = { id, event: message.event, data: JSON.parse(message.data || "{}") };
              last = id;
              progressed = true;
              yield event as JobEvent;
              if (event.event === "end") return;
            }
          }
        } finally {
          await reader.cancel().catch(() => {});
        }
      } catch (err) {
        if (err instanceof ApiCallError && err.status >= 400 && err.status < 500) throw err;
        failure = err;
      }
      failures = progressed ? 1 : failures + 1;
      if (failures > max) throw new EventStreamLost(jobId, failures, failure);
      await new Promise((r) => setTimeout(r, Math.min(5000, baseDelay * 2 ** (failures - 1))));
    }
  }

  /**
   * `GET /v1/agents/events` with this client's agent session: `ready`, then the identity events
   * that concern the agent (and `heartbeat`s), until `end` or the connection drops. No replay
   * and no reconnect: after a gap, anything cached from before it is stale. A refusal throws
   * {@linkcode ApiCallError}; `idleMs` of silence throws `EventStreamIdle`; `signal` closes it.
   *
   * ```ts
   * for await (const e of api.withSession(agentJwt).agentEvents()) if (e.event !== "heartbeat") drop();
   * ```
   */
  async *agentEvents(idleMs = 45_000, signal?: AbortSignal): AsyncGenerator<AgentStreamEvent> {
    const path = "/v1/agents/events";
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await this.#fetch(`${this.url}${path}`, { headers, signal });
    } catch (err) {
      throw new ApiCallError(0, "unreachable", `cannot reach ${this.url}: ${err}`);
    }
    if (!res.ok) await answerOf(res, path); // throws the answer's error
    yield* readAgentEvents(res, idleMs);
  }
}

const JOB_EVENTS: ReadonlySet<string> = new Set(["blob", "progress", "summary", "end"]);

/** The JSON of a 2xx answer; otherwise throws the answer as {@linkcode ApiCallError}. */
async function answerOf<T>(res: Response, path: string): Promise<T> {
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
      json,
    );
  }
  return json as T;
}
