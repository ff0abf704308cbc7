/**
 * `GET /openapi.json`: the wire contract (API.md) as an OpenAPI 3.1 document, built from one
 * table of the routes this service mounts. A test checks that every route in the table answers
 * (not 404), so the document cannot list a route that does not exist.
 *
 * @module
 */

import type { Hono } from "hono";

type Auth = "none" | "session" | "admin" | "cap";

/** Every public route: method, path (OpenAPI style), who may call it, and what it does. */
export const ROUTES: readonly [string, string, Auth, string][] = [
  [
    "get",
    "/healthz",
    "none",
    "liveness, roles, store kind, chain id, active K3 epoch, integrity anchor status",
  ],
  ["get", "/openapi.json", "none", "this document"],
  ["get", "/.well-known/openid-configuration", "none", "OIDC discovery"],
  ["get", "/.well-known/jwks.json", "none", "OIDC signing keys (current first, with x5c)"],
  ["post", "/v1/auth/siwe/start", "none", "SIWE challenge for {address, chain_id}"],
  ["post", "/v1/auth/siwe/verify", "none", "operator session for {request_id, signature}"],
  ["post", "/v1/auth/device/start", "none", "device challenge for {device_address}"],
  ["post", "/v1/auth/device/verify", "none", "15-minute agent session for a signed challenge"],
  [
    "post",
    "/v1/auth/claim-admin",
    "session",
    "operator sessions: become admin with the install's one-time {token} (no AGENTKEYS_ADMINS)",
  ],
  ["post", "/v1/auth/logout", "session", "end the session"],
  ["post", "/v1/mint-oidc-jwt", "session", "OIDC token for S3 STS {audience?}"],
  ["get", "/v1/operators/me", "session", "the operator, its agents and their scopes"],
  ["post", "/v1/services/names", "session", "teach service names behind on-chain hashes"],
  [
    "post",
    "/v1/agents/purge",
    "session",
    "delete every blob of a revoked agent of this operator {actor_omni}",
  ],
  [
    "get",
    "/v1/agents/events",
    "session",
    "SSE for an agent session: ready, agent_revoked, scope_set, scope_revoked, epoch_rotated, epoch_destroyed, end",
  ],
  [
    "get",
    "/v1/chain",
    "none",
    "chain id, contracts and ABIs (embedded chain: rpc_url, the proxy below)",
  ],
  [
    "post",
    "/v1/chain/rpc",
    "none",
    "embedded chain only: JSON-RPC proxy (standard reads, eth_sendRawTransaction; others -32601)",
  ],
  [
    "post",
    "/v1/dev/faucet",
    "none",
    "embedded chain only: fund {address} for its own transactions",
  ],
  ["post", "/v1/cap/cred-store", "session", "cap to store a credential"],
  ["post", "/v1/cap/cred-fetch", "session", "cap to fetch a credential"],
  ["post", "/v1/cap/cred-teardown", "session", "cap to delete a credential"],
  ["post", "/v1/cap/memory-put", "session", "cap to write memory"],
  ["post", "/v1/cap/memory-get", "session", "cap to read memory"],
  ["post", "/v1/cap/memory-teardown", "session", "cap to delete memory"],
  ["post", "/v1/cap/keyring-put", "session", "cap to write documents of {ring} (members only)"],
  ["post", "/v1/cap/keyring-get", "session", "cap to read documents of {ring}"],
  ["post", "/v1/cap/keyring-list", "session", "cap to list documents of {ring}"],
  ["post", "/v1/cap/keyring-teardown", "session", "cap to delete documents of {ring}"],
  ["post", "/v1/cap/inbound-put", "session", "cap to write an agent's inbox (operator session)"],
  ["post", "/v1/cap/inbound-get", "session", "cap to read and list an inbox"],
  ["post", "/v1/cap/inbound-teardown", "session", "cap to delete inbound messages"],
  ["post", "/v1/cred/store", "cap", "encrypt and store {plaintext_b64}"],
  ["post", "/v1/cred/fetch", "cap", "decrypt (lazily re-wrapping a retiring epoch)"],
  ["post", "/v1/cred/teardown", "cap", "delete the credential"],
  [
    "get",
    "/v1/cred/list",
    "session",
    "an actor's credentials, names and metadata only ?actor_omni&cursor&limit",
  ],
  [
    "get",
    "/v1/cred/proof",
    "session",
    "a credential's pointer, latest anchor and Merkle path ?actor_omni&service",
  ],
  [
    "get",
    "/v1/memory/proof",
    "session",
    "a memory object's pointer, anchor and Merkle path ?actor_omni&namespace&name",
  ],
  [
    "get",
    "/v1/inbound/proof",
    "session",
    "an inbound message's pointer, anchor and Merkle path ?actor_omni&message_id",
  ],
  ["post", "/v1/memory/put", "cap", "encrypt and store {namespace, name, plaintext_b64}"],
  ["post", "/v1/memory/get", "cap", "decrypt {namespace, name}"],
  ["post", "/v1/memory/teardown", "cap", "delete {namespace, name?}"],
  ["get", "/v1/keyrings", "session", "the operator's rings (operator sessions)"],
  ["post", "/v1/keyrings", "session", "create a ring {record} signed by the operator's wallet"],
  ["get", "/v1/keyrings/{ring}", "session", "the signed ring record (operator or a member)"],
  [
    "put",
    "/v1/keyrings/{ring}",
    "session",
    "replace the record {record}: version + 1 (compare-and-swap), rotation never back, history kept",
  ],
  ["post", "/v1/member-keys", "session", "publish this session's keyring member key {member_key}"],
  ["get", "/v1/member-keys/{actor_omni}", "session", "a member key (own, or its agents')"],
  [
    "post",
    "/v1/keyring/put",
    "cap",
    "store an end-to-end encrypted document {name, document_b64} (current rotation only)",
  ],
  ["post", "/v1/keyring/get", "cap", "a document's (still end-to-end encrypted) bytes {name}"],
  ["post", "/v1/keyring/list", "cap", "the ring's document names and sizes"],
  ["post", "/v1/keyring/teardown", "cap", "delete {name?} (none: the whole ring, operator only)"],
  [
    "post",
    "/v1/inbound/put",
    "cap",
    "encrypt and store {plaintext_b64, message_id?} → {message_id}",
  ],
  ["post", "/v1/inbound/get", "cap", "decrypt {message_id}"],
  ["post", "/v1/inbound/list", "cap", "a page of the inbox {cursor?, limit?} (fetch cap)"],
  ["post", "/v1/inbound/teardown", "cap", "delete {message_id?} (none: the whole inbox)"],
  [
    "post",
    "/v1/migrate/jobs",
    "session",
    "migrate-legacy as a job: {operator, legacy_signer_key, map?, dry_run?, delete_legacy?}",
  ],
  ["get", "/v1/migrate/jobs", "session", "this operator's recent migration jobs"],
  ["get", "/v1/migrate/jobs/{id}", "session", "one migration job"],
  ["get", "/v1/migrate/jobs/{id}/events", "session", "SSE: blob, summary, end"],
  ["get", "/v1/epochs", "session", "epochs, states and the latest census"],
  ["post", "/v1/epochs/rotate", "admin", "activate the next K3 epoch (recorded on chain)"],
  ["post", "/v1/epochs/census", "session", "a fresh census ({scope: global} for admins)"],
  ["post", "/v1/epochs/{n}/destroy", "admin", "erase a retiring epoch proven unused {force?}"],
  ["post", "/v1/reencrypt/jobs", "session", "start a re-encryption job"],
  ["get", "/v1/reencrypt/jobs", "session", "recent jobs"],
  ["get", "/v1/reencrypt/jobs/{id}", "session", "one job"],
  ["get", "/v1/reencrypt/jobs/{id}/events", "session", "SSE: blob, progress, summary, end"],
  ["post", "/v1/reencrypt/jobs/{id}/cancel", "session", "cancel a running job"],
];

/** Builds the OpenAPI document for `serverUrl`. */
export function openApiDocument(serverUrl: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [method, path, auth, summary] of ROUTES) {
    const params = [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
      name,
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    (paths[path] ??= {})[method] = {
      summary,
      ...(params.length ? { parameters: params } : {}),
      ...(auth === "none" ? {} : { security: [{ [auth === "cap" ? "cap" : "session"]: [] }] }),
      ...(auth === "admin" ? { description: "admin sessions only" } : {}),
      responses: {
        "200": { description: "success (JSON; text/event-stream for /events)" },
        default: {
          description: "refusal",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "AgentKeys",
      version: "1",
      description: "Credential vault for AI agents (see API.md)",
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      securitySchemes: {
        session: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "EdDSA JWT (or the HttpOnly cookie)",
        },
        cap: { type: "http", scheme: "bearer", bearerFormat: "EdDSA capability JWS" },
      },
      schemas: {
        Error: {
          type: "object",
          required: ["error", "message"],
          properties: { error: { type: "string" }, message: { type: "string" } },
        },
      },
    },
  };
}

/** Mounts `GET /openapi.json`. */
export function mountOpenApi(app: Hono, serverUrl: string): void {
  const doc = openApiDocument(serverUrl);
  app.get("/openapi.json", (c) => c.json(doc));
}
