/**
 * The sidecar daemon: an HTTP/1.1 server on a Unix socket that identifies every connection by
 * SO_PEERCRED, checks the policy, and forwards `/<service>/<path>` upstream with the real
 * credential injected. One JSON audit line per request; never the secret.
 *
 * @module
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { ApiCallError } from "../client/mod.ts";
import { CredentialCache } from "./_cache.ts";
import type { CredentialSource } from "./_credentials.ts";
import { keyringRefusal, type KeyringSource } from "./_keyrings.ts";
import { prepareSocketPath } from "./_listener.ts";
import { type PeerCred, peerCredOf } from "./_peercred.ts";
import { callerRuleFor, clientRuleFor, type Policy, requestAllowed } from "./_policy.ts";
import { forward } from "./_forward.ts";
import { clientTokenOf, parseTarget, upstreamRequest } from "./_target.ts";

/** Request headers larger than this are refused (431): the sidecar is not a bulk channel. */
export const MAX_HEADER_BYTES = 16 * 1024;

export interface AuditEntry {
  time: string;
  pid: number | null;
  uid: number | null;
  exe: string | null;
  /** The `[[client]]` name in `--tcp` mode (no peer credentials there); null on the socket. */
  client: string | null;
  method: string;
  service: string | null;
  /** `<ring>/<name>` of a keyring read (never its content); null otherwise. */
  keyring: string | null;
  decision: string;
  upstream_status: number | null;
  latency_ms: number;
}

/** The `--tcp` address was not a loopback `HOST:PORT`. */
export class TcpAddressRefused extends Error {
  override name = "TcpAddressRefused";
}

/**
 * Parses `--tcp`: `127.x.y.z:PORT` or `[::1]:PORT` only. Anything else would expose the
 * credentials of this agent to the network, with nothing but a token in the way.
 */
export function parseTcpAddress(value: string): { host: string; port: number } {
  const m = /^(?:(127\.\d{1,3}\.\d{1,3}\.\d{1,3})|\[(::1)\]):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  const octets = m?.[1]?.split(".").map(Number) ?? [];
  if (!m || port > 65535 || octets.some((o) => o > 255)) {
    throw new TcpAddressRefused(
      `--tcp ${value}: only a loopback address may be bound (127.0.0.1:PORT or [::1]:PORT)`,
    );
  }
  return { host: m[1] ?? m[2], port };
}

export interface SidecarOptions {
  /** The Unix socket; or, with `tcp`, unused. */
  socketPath?: string;
  /** Listen on loopback TCP instead, with `[[client]]` tokens instead of peer credentials. */
  tcp?: { host: string; port: number };
  policy: () => Policy;
  credentials: CredentialSource;
  /** Keyring documents as the agent; without it `GET /v1/keyrings/…` is 404 `no_keyrings`. */
  keyrings?: KeyringSource;
  audit: (entry: AuditEntry) => void;
  cache?: CredentialCache;
}

/**
 * Starts the daemon.
 *
 * ```ts
 * await using sidecar = await startSidecar({ socketPath, policy: () => file.current, credentials, audit });
 * ```
 */
export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  if (!options.tcp) {
    if (!options.socketPath) throw new Error("startSidecar needs socketPath or tcp");
    await prepareSocketPath(options.socketPath);
  }
  const sidecar = new Sidecar(options);
  await sidecar.listen();
  return sidecar;
}

export class Sidecar {
  readonly cache: CredentialCache;
  readonly #inFlight = new Map<string, Promise<string>>();
  readonly #server: Server;
  readonly #peers = new WeakMap<Socket, PeerCred | Error>();

  constructor(private readonly options: SidecarOptions) {
    this.cache = options.cache ?? new CredentialCache();
    this.#server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
      void this.#handle(req, res);
    });
    // A TCP peer has no SO_PEERCRED: --tcp clients are known by their tokens instead.
    if (!options.tcp) {
      this.#server.on("connection", (socket: Socket) => {
        try {
          this.#peers.set(socket, peerCredOf(socket));
        } catch (err) {
          this.#peers.set(socket, err as Error);
        }
      });
    }
  }

  /** The bound TCP port in `--tcp` mode (useful with port 0). */
  get port(): number | undefined {
    const a = this.#server.address();
    return typeof a === "object" && a !== null ? a.port : undefined;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      const done = () => {
        this.#server.off("error", reject);
        if (!this.options.tcp) Deno.chmodSync(this.options.socketPath!, 0o600);
        resolve();
      };
      if (this.options.tcp) this.#server.listen(this.options.tcp.port, this.options.tcp.host, done);
      else this.#server.listen(this.options.socketPath, done);
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    if (!this.options.tcp) await Deno.remove(this.options.socketPath!).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const peer = this.#peers.get(req.socket);
    const caller = peer instanceof Error || !peer ? null : peer;
    const method = req.method ?? "GET";
    const entry: AuditEntry = {
      time: new Date().toISOString(),
      pid: caller?.pid ?? null,
      uid: caller?.uid ?? null,
      exe: caller?.exe ?? null,
      client: null,
      method,
      service: null,
      keyring: null,
      decision: "error",
      upstream_status: null,
      latency_ms: 0,
    };
    try {
      await this.#route(req, res, caller, entry);
    } catch (err) {
      entry.decision = "error";
      if (!res.headersSent) {
        refuse(res, 502, "upstream_failed", `the upstream call failed: ${(err as Error).name}`);
      } else res.destroy();
    } finally {
      entry.latency_ms = Math.round((performance.now() - started) * 100) / 100;
      this.options.audit(entry);
    }
  }

  async #route(
    req: IncomingMessage,
    res: ServerResponse,
    caller: PeerCred | null,
    entry: AuditEntry,
  ): Promise<void> {
    let headerBytes = 0;
    for (const h of req.rawHeaders) headerBytes += h.length + 2;
    if (headerBytes > MAX_HEADER_BYTES) {
      entry.decision = "headers_too_large";
      return refuse(res, 431, "headers_too_large", "the request headers are too large");
    }
    const target = parseTarget(req.url ?? "/");
    if (target.kind === "bad") {
      entry.decision = "bad_path";
      return refuse(res, 400, "bad_path", target.message);
    }
    if (target.kind === "keyring") entry.keyring = `${target.ring}/${target.name}`;
    else entry.service = target.service;
    const policy = this.options.policy();
    let rule;
    if (this.options.tcp) {
      const query = target.kind === "proxy" ? target.query : "";
      const inject = target.kind === "proxy" ? policy.services[target.service]?.inject : undefined;
      rule = clientRuleFor(policy, clientTokenOf(headersOf(req), query, inject));
      if (!rule) {
        entry.decision = "client_denied";
        return refuse(res, 401, "client_denied", "send this client's token from the policy");
      }
      entry.client = rule.name;
    } else {
      rule = caller ? callerRuleFor(policy, caller) : undefined;
      if (!rule) {
        entry.decision = "caller_denied";
        return refuse(res, 403, "caller_denied", "this program is not in the sidecar policy");
      }
    }
    if (target.kind === "keyring") {
      return await this.#keyring(req, res, rule.keyrings, target, entry);
    }
    const service = policy.services[target.service];
    if (!service) {
      entry.decision = "unknown_service";
      return refuse(res, 404, "unknown_service", `no service ${target.service} in the policy`);
    }
    if (!rule.services.includes(target.service)) {
      entry.decision = "service_denied";
      return refuse(res, 403, "service_denied", "this program may not use that service");
    }
    if (target.kind === "reveal") {
      if (req.method !== "GET") {
        entry.decision = "method_not_allowed";
        return refuse(res, 405, "method_not_allowed", "use GET");
      }
      if (!rule.reveal) {
        entry.decision = "reveal_denied";
        return refuse(
          res,
          403,
          "reveal_denied",
          "the policy does not reveal secrets to this program",
        );
      }
      const secret = this.cache.get(target.service) ??
        await this.#secret(target.service, res, entry);
      if (secret === undefined) return;
      entry.decision = "revealed";
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify({ service: target.service, secret }));
      return;
    }
    if (!requestAllowed(service, req.method ?? "GET", target.path)) {
      entry.decision = "request_denied";
      return refuse(res, 403, "request_denied", "the policy does not allow this method or path");
    }
    const secret = this.cache.get(target.service) ?? await this.#secret(target.service, res, entry);
    if (secret === undefined) return;
    const { url, headers } = upstreamRequest(
      service.upstream,
      target,
      service.inject,
      req.rawHeaders,
      secret,
    );
    entry.decision = "forwarded";
    await forward(req, res, url, headers, (status) => {
      entry.upstream_status = status;
      if (status === 401 || status === 403) this.cache.drop(target.service);
    }, secret);
  }

  async #keyring(
    req: IncomingMessage,
    res: ServerResponse,
    allowed: string[],
    target: { ring: string; name: string },
    entry: AuditEntry,
  ): Promise<void> {
    if (!allowed.includes(target.ring)) {
      entry.decision = "keyring_denied";
      return refuse(res, 403, "keyring_denied", "this program may not read that ring");
    }
    if (req.method !== "GET") {
      entry.decision = "method_not_allowed";
      return refuse(res, 405, "method_not_allowed", "use GET");
    }
    if (!this.options.keyrings) {
      entry.decision = "no_keyrings";
      return refuse(res, 404, "no_keyrings", "this sidecar reads no keyrings");
    }
    let plaintext: Uint8Array;
    try {
      plaintext = await this.options.keyrings.document(target.ring, target.name);
    } catch (err) {
      const r = keyringRefusal(err);
      entry.decision = r.error;
      return refuse(res, r.status, r.error, r.message);
    }
    entry.decision = "keyring_read";
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-length": String(plaintext.byteLength),
      "cache-control": "no-store",
    });
    res.end(plaintext);
  }

  async #secret(
    service: string,
    res: ServerResponse,
    entry: AuditEntry,
  ): Promise<string | undefined> {
    const cached = this.cache.get(service);
    if (cached !== undefined) return cached;
    const generation = this.cache.generation;
    const key = `${generation}:${service}`;
    try {
      // Concurrent misses for one service share one fetch: a burst of an agent's requests
      // after a restart or a 401 must not turn into a burst of logins and mints.
      // Keyed by the cache generation: a request after a clear does not join a fetch from before.
      let pending = this.#inFlight.get(key);
      if (pending === undefined) {
        pending = this.options.credentials.fetch(service).finally(() => {
          this.#inFlight.delete(key);
        });
        this.#inFlight.set(key, pending);
      }
      const secret = await pending;
      if (/[\r\n\0]/.test(secret)) {
        entry.decision = "bad_credential";
        refuse(res, 502, "bad_credential", "the stored credential cannot be sent in a header");
        return undefined;
      }
      this.cache.set(service, secret, generation);
      return secret;
    } catch (err) {
      if (err instanceof ApiCallError && err.status !== 0 && err.status < 500) {
        entry.decision = "credential_refused";
        refuse(res, 502, "credential_refused", `the AgentKeys service refused: ${err.code}`);
      } else {
        entry.decision = "service_unavailable";
        refuse(
          res,
          503,
          "service_unavailable",
          "the AgentKeys service cannot be reached and nothing is cached",
        );
      }
      return undefined;
    }
  }
}

function headersOf(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  return headers;
}

function refuse(res: ServerResponse, status: number, error: string, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error, message }));
}
