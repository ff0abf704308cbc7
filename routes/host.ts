/**
 * DNS rebinding defence: a request is served only when the host it names is this service's own.
 * A page on `evil.example` whose DNS name is re-pointed at 127.0.0.1 reaches the service from the
 * victim's browser as same-origin to itself; its requests still say `Host: evil.example`, and
 * are refused with 421 `misdirected_request`.
 *
 * Allowed: the host (and port) of `AGENTKEYS_PUBLIC_URL`, and the loopback names `127.0.0.1`,
 * `localhost` and `[::1]` with the port the server is bound to. A deployment reached under
 * another name (a LAN address, a reverse proxy's name) sets `AGENTKEYS_PUBLIC_URL` to it.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { ApiError } from "./errors.ts";

const LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"];

/**
 * The `host` values (as `URL.host` spells them: lowercase, no default port) that are this
 * service's.
 *
 * ```ts
 * allowedHosts({ publicUrl: "https://vault.example", port: 8787 });
 * // Set {"vault.example", "127.0.0.1:8787", "localhost:8787", "[::1]:8787"}
 * ```
 */
export function allowedHosts(options: { publicUrl?: string; port: number }): Set<string> {
  const hosts = new Set<string>();
  if (options.publicUrl) hosts.add(new URL(options.publicUrl).host);
  for (const name of LOOPBACK_NAMES) {
    // Through URL so that port 80 is spelled the way a request URL spells it (no port).
    hosts.add(new URL(`http://${name}:${options.port}`).host);
  }
  return hosts;
}

/** Refuses requests whose host is not in {@linkcode allowedHosts}. */
export function hostCheck(options: { publicUrl?: string; port: number }): MiddlewareHandler {
  const allowed = allowedHosts(options);
  return async (c, next) => {
    // Deno.serve builds the request URL from the Host header (or HTTP/2's :authority).
    const host = new URL(c.req.url).host;
    if (!allowed.has(host)) {
      throw new ApiError(
        421,
        "misdirected_request",
        "this service does not answer for that host name; use its own URL",
      );
    }
    await next();
  };
}
