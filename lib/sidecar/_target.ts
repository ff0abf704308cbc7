/**
 * Pure request plumbing: which service a path names, whether it tries to escape, and the
 * headers that may cross the proxy.
 *
 * @module
 */

import { isValidName, NAME_RULE } from "../identity/mod.ts";
import type { Injection } from "./_policy.ts";
import { PLACEHOLDER } from "./_envfile.ts";

/** Where a `--tcp` client may put its token when the placeholder's place is taken. */
export const CLIENT_TOKEN_HEADER = "x-agentkeys-token";

export type Target =
  | { kind: "reveal"; service: string }
  | { kind: "keyring"; ring: string; name: string }
  | { kind: "proxy"; service: string; path: string; query: string }
  | { kind: "bad"; message: string };

// Encoded dots, slashes and backslashes: an upstream that decodes them again could be walked
// out of the base path even though the sidecar saw no "..".
const ENCODED_ESCAPE = /%(2e|2f|5c|25)/i;

/**
 * Splits a request target into service and rest, refusing traversal in any encoding.
 *
 * ```ts
 * parseTarget("/openai/v1/models?x=1"); // { kind: "proxy", service: "openai", path: "/v1/models", query: "x=1" }
 * ```
 */
export function parseTarget(raw: string): Target {
  if (!raw.startsWith("/")) return { kind: "bad", message: "the path must start with /" };
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? "" : raw.slice(q + 1);
  if (ENCODED_ESCAPE.test(path)) {
    return { kind: "bad", message: "encoded dots, slashes or percent signs are not allowed" };
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return { kind: "bad", message: "the path is not valid percent-encoding" };
  }
  if (decoded.includes("\\") || decoded.includes("\0")) {
    return { kind: "bad", message: "backslashes and NUL are not allowed in the path" };
  }
  const segments = decoded.split("/").slice(1);
  if (segments.some((s) => s === "." || s === "..")) {
    return { kind: "bad", message: "path traversal is not allowed" };
  }
  const reveal = /^\/v1\/credentials\/([^/]+)$/.exec(path);
  if (reveal) return { kind: "reveal", service: reveal[1] };
  const keyring = /^\/v1\/keyrings\/([^/]+)\/([^/]+)$/.exec(path);
  if (keyring) {
    if (!isValidName(keyring[1]) || !isValidName(keyring[2])) {
      return { kind: "bad", message: `ring and document names must match ${NAME_RULE}` };
    }
    return { kind: "keyring", ring: keyring[1], name: keyring[2] };
  }
  const [service, ...rest] = path.slice(1).split("/");
  if (!service) return { kind: "bad", message: "the path must name a service: /<service>/<path>" };
  return { kind: "proxy", service, path: "/" + rest.join("/"), query };
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Names the Connection header lists (hop-by-hop too), lowercased. */
function connectionNamed(value: string | null | undefined): Set<string> {
  const named = new Set<string>();
  if (value) { for (const s of value.split(",")) named.add(s.trim().toLowerCase()); }
  return named;
}

/**
 * The upstream's response headers (lowercased name, value pairs as received) for
 * `res.writeHead`, minus hop-by-hop ones, including those its Connection headers name. A
 * repeated header stays repeated (set-cookie cannot be joined; nothing else needs to be).
 */
export function responseHeaders(
  pairs: readonly [string, string][],
  secret?: string,
): Record<string, string | string[]> {
  let named: Set<string> | undefined;
  for (const [k, v] of pairs) {
    if (k === "connection") { for (const n of connectionNamed(v)) (named ??= new Set()).add(n); }
  }
  // Encoding only lengthens the secret, so a shorter value cannot hold any form of it: most
  // headers are, and the forms are made only when one is not (once per response).
  let forms: string[] | undefined;
  const out: Record<string, string | string[]> = {};
  for (const [k, raw] of pairs) {
    if (HOP_BY_HOP.has(k) || named?.has(k)) continue;
    const v = secret && raw.length >= secret.length
      ? redact(raw, forms ??= secretForms(secret))
      : raw;
    const had = out[k];
    out[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
  }
  return out;
}

/**
 * How the injected secret can appear in a header value the upstream echoes back — e.g. a
 * redirect's `Location` that keeps the query string the secret was injected into — as sent and
 * URL-encoded both ways. Bodies cannot be cleaned this way; headers can, and the agent must not
 * learn the secret from them (review: a trailing-slash redirect showed `?key=sk-…`).
 */
function secretForms(secret: string): string[] {
  const forms = new Set([
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
  ]);
  return [...forms].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
}

function redact(value: string, forms: string[]): string {
  let out = value;
  for (const f of forms) if (out.includes(f)) out = out.replaceAll(f, PLACEHOLDER);
  return out;
}

/**
 * The token a `--tcp` client presented: `X-AgentKeys-Token`, else wherever the service's
 * placeholder goes (so an unmodified SDK whose API key is the token just works), else
 * `Authorization: Bearer` (reveal, or an unknown service).
 */
export function clientTokenOf(
  headers: Headers,
  query: string,
  inject: Injection | undefined,
): string | undefined {
  const explicit = headers.get(CLIENT_TOKEN_HEADER);
  if (explicit !== null) return explicit;
  if (inject?.kind === "header") return headers.get(inject.name) ?? undefined;
  if (inject?.kind === "query") return new URLSearchParams(query).get(inject.name) ?? undefined;
  return /^Bearer (\S+)$/i.exec(headers.get("authorization") ?? "")?.[1];
}

/**
 * The upstream URL and request headers: the agent's placeholder removed, the real secret put
 * where the service expects it. `raw` is node's `rawHeaders` (name, value, name, value, …),
 * filtered in one pass into the pairs fetch takes: no intermediate `Headers` per request.
 */
export function upstreamRequest(
  base: string,
  target: { path: string; query: string },
  inject: Injection,
  raw: readonly string[],
  secret: string,
): { url: URL; headers: [string, string][] } {
  const url = new URL(base + target.path);
  url.search = target.query;
  // Every copy of the placeholder's header goes, whatever its case, before the secret is added.
  const replaced = inject.kind === "bearer"
    ? "authorization"
    : inject.kind === "header"
    ? inject.name.toLowerCase()
    : undefined;
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === "connection") {
      for (const n of connectionNamed(raw[i + 1])) (named ??= new Set()).add(n);
    }
  }
  const headers: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (
      HOP_BY_HOP.has(k) || named?.has(k) || k === "host" || k === "content-length" ||
      k === CLIENT_TOKEN_HEADER || k === replaced
    ) continue;
    headers.push([k, raw[i + 1]]);
  }
  switch (inject.kind) {
    case "bearer":
      headers.push(["authorization", `Bearer ${secret}`]);
      break;
    case "header":
      headers.push([replaced!, secret]);
      break;
    case "query":
      url.searchParams.set(inject.name, secret);
      break;
  }
  return { url, headers };
}
