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

import type { Context, MiddlewareHandler } from "hono";
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

/**
 * `host[:port]` as RFC 3986 allows it in a Host header: a DNS name or IPv4 address, or an IPv6
 * literal in brackets (no zone id), and digits for the port. Nothing that could end an authority
 * (`/ ? # @ \`), no whitespace, no percent-encoding.
 */
const HOST_HEADER =
  /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?)(?::[0-9]{1,5})?$/;

/**
 * The host of the request URL, after checking that it is the raw `Host` header's. Deno.serve
 * builds the URL as `http://` + Host + request target, so a Host of `127.0.0.1:8787/v1/dev/faucet?`
 * used to re-route the request, and an absolute-form target (`GET http://127.0.0.1:8787/…` with
 * `Host: evil.example`) put another host in the URL than the header. Either is 400 `bad_request`,
 * as is a Host no URL can hold (a zone id, a tab), which used to throw. Without a Host header
 * (HTTP/1.0, in-process `app.request`) the URL's host is judged alone.
 */
function requestHost(c: Context): string {
  const refuse = () =>
    new ApiError(400, "bad_request", "the Host header must be this service's host[:port]");
  const raw = c.req.header("host");
  let urlHost: string;
  try {
    urlHost = new URL(c.req.url).host;
  } catch {
    throw refuse();
  }
  if (raw === undefined) return urlHost;
  if (!HOST_HEADER.test(raw)) throw refuse();
  let headerHost: string;
  try {
    // The grammar leaves only an invalid IPv6 literal or a port above 65535 to fail here.
    headerHost = new URL(`http://${raw}`).host;
  } catch {
    throw refuse();
  }
  if (headerHost !== urlHost) throw refuse();
  return urlHost;
}

/**
 * Refuses a malformed or inconsistent Host (400, {@linkcode requestHost}), then any host not in
 * {@linkcode allowedHosts} (421).
 */
export function hostCheck(
  options: {
    publicUrl?: string;
    port: number;
    /** Hosts allowed besides {@linkcode allowedHosts} (the scrapers' listener: IP literals). */
    alsoAllow?: (host: string) => boolean;
  },
): MiddlewareHandler {
  const allowed = allowedHosts(options);
  const alsoAllow = options.alsoAllow ?? (() => false);
  return async (c, next) => {
    // The common case without parsing two URLs: a Host that is exactly an allowed (so canonical)
    // host and the URL Deno built from it. Anything else takes the full check.
    const raw = c.req.header("host");
    const host = raw !== undefined && allowed.has(raw) && urlIsOn(c.req.url, raw)
      ? raw
      : requestHost(c);
    if (!allowed.has(host) && !alsoAllow(host)) {
      throw new ApiError(
        421,
        "misdirected_request",
        "this service does not answer for that host name; use its own URL",
      );
    }
    await next();
  };
}

/** True when `url` is `http(s)://` + exactly `host` + a path. */
function urlIsOn(url: string, host: string): boolean {
  const start = url.startsWith("http://") ? 7 : url.startsWith("https://") ? 8 : -1;
  return start > 0 && url.startsWith(host, start) && url.charCodeAt(start + host.length) === 47;
}

/**
 * An IP literal, with or without a port: no DNS name, so no page can rebind to it (a rebinding
 * page's requests name the page's own DNS name).
 */
export function isIpLiteralHost(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return name.startsWith("[") || /^\d{1,3}(?:\.\d{1,3}){3}$/.test(name);
}
