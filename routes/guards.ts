/**
 * Rate limits and concurrency caps of the routes (lib/ratelimit), keyed by what each route
 * knows: the client address before authentication, the session after it.
 *
 * The client address is the TCP peer as `Deno.serve` hands it to `app.fetch` (`info.remoteAddr`,
 * Hono's `c.env`); tests pass the same object as `app.request`'s third argument. `X-Forwarded-For`
 * is never read: it is the client's to write, and no setting names a trusted proxy.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import type { Session } from "../lib/broker/mod.ts";
import type { Guards } from "../lib/config/mod.ts";
import { rpcCallCount } from "../lib/chain/mod.ts";
import { ConcurrencyLimiter, RateLimiter } from "../lib/ratelimit/mod.ts";
import { ApiError } from "./errors.ts";

/** Requests without a peer (in-process `app.request` without an env) share this key. */
export const NO_PEER = "in-process";

/** Every loopback peer (127.0.0.0/8, ::1, IPv4-mapped 127.x) shares this key. */
export const LOOPBACK_PEER = "loopback";

/**
 * The key of a request's client: the peer's IPv4 address, or the /64 of an IPv6 one (one host
 * usually has a whole /64, so per address would let it multiply its budget). Loopback is one
 * key for the same reason: a local user can connect from any of 16M addresses of 127.0.0.0/8.
 */
export function clientKey(c: Context): string {
  const addr = (c.env as { remoteAddr?: { hostname?: unknown } } | undefined)?.remoteAddr;
  const host = typeof addr?.hostname === "string" ? addr.hostname : undefined;
  if (!host) return NO_PEER;
  const v4 = host.includes(":") ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)?.[1] : host;
  if (v4 !== undefined) return v4.startsWith("127.") ? LOOPBACK_PEER : v4;
  const groups = ipv6Groups(host);
  if (groups.join(":") === "0:0:0:0:0:0:0:1") return LOOPBACK_PEER;
  return `${groups.slice(0, 4).join(":")}::/64`;
}

function ipv6Groups(host: string): string[] {
  const [head, tail] = host.replace(/%.*$/, "").toLowerCase().split("::");
  const a = head ? head.split(":") : [];
  const b = tail === undefined ? [] : tail ? tail.split(":") : [];
  const fill = tail === undefined ? [] : Array(Math.max(0, 8 - a.length - b.length)).fill("0");
  return [...a, ...fill, ...b].map((g) => g.replace(/^0+(?=.)/, ""));
}

/**
 * One app's limiters. Buckets live in this process's memory: a restart refills them, and several
 * service processes would each allow the full rate.
 */
export class RouteGuards {
  readonly #login: RateLimiter;
  readonly #faucetClient: RateLimiter;
  readonly #faucetAddress: RateLimiter;
  readonly #rpc: RateLimiter;
  readonly #mint: RateLimiter;
  readonly #streams: ConcurrencyLimiter;

  constructor(guards: Guards, options: { now?: () => number } = {}) {
    this.#login = new RateLimiter(guards.loginRate, options);
    this.#faucetClient = new RateLimiter(guards.faucetRate, options);
    this.#faucetAddress = new RateLimiter(guards.faucetRate, options);
    this.#rpc = new RateLimiter(guards.rpcRate, options);
    this.#mint = new RateLimiter(guards.mintRate, options);
    this.#streams = new ConcurrencyLimiter(guards.maxStreamsPerSession);
  }

  /** Before the login routes read their bodies: per client address. */
  readonly login: MiddlewareHandler = async (c, next) => {
    this.#login.check(clientKey(c), "too many sign-in requests from this address; retry later");
    await next();
  };

  /**
   * The dev faucet: per client address before the body is read, then per funded address (the
   * body is parsed here; Hono caches it for the route).
   */
  readonly faucet: MiddlewareHandler = async (c, next) => {
    this.#faucetClient.check(clientKey(c), "too many faucet requests from this address");
    const body: unknown = await c.req.json().catch(() => null);
    const address = (body as { address?: unknown } | null)?.address;
    if (typeof address === "string") {
      this.#faucetAddress.check(
        address.trim().toLowerCase(),
        "this address was funded too often; retry later",
      );
    }
    await next();
  };

  /**
   * The chain proxy: per client address, each call of a batch one token (the body is read
   * here, within the 64 KiB limit; Hono caches it for the route).
   */
  readonly rpc: MiddlewareHandler = async (c, next) => {
    const calls = rpcCallCount(await c.req.text());
    this.#rpc.check(clientKey(c), "too many chain calls from this address; retry later", calls);
    await next();
  };

  /** Cap mints of one session. */
  mint(session: Session): void {
    this.#mint.check(session.jti, "too many cap mints for this session; retry later");
  }

  /** A slot for one event stream of `session`; call the result when the stream ends. */
  stream(session: Session): () => void {
    const release = this.#streams.acquire(session.jti);
    if (!release) {
      // Not time-based: a slot frees when a stream ends, so no Retry-After.
      throw new ApiError(
        429,
        "too_many_streams",
        `this session already has ${this.#streams.max} event streams open; close one first`,
      );
    }
    return release;
  }
}
