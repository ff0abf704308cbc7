/**
 * Helpers of the sidecar tests: a fake upstream that records what reached it, and an HTTP call
 * over the Unix socket or loopback TCP.
 *
 * @module
 */

import { request } from "node:http";
import { parsePolicy, type Policy } from "../../lib/sidecar/_policy.ts";

export const DENO = Deno.realPathSync(Deno.execPath());

/**
 * Deno's cache, pinned for child processes whose HOME the test changes (its default lives under
 * HOME, and a fresh one would download every npm package again).
 */
export const DENO_DIR = Deno.env.get("DENO_DIR") ??
  `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`}/deno`;

export interface Upstream extends AsyncDisposable {
  base: string;
  /** The credential each request carried in `Authorization` (or null). */
  seen: { path: string; authorization: string | null; headers: Headers }[];
}

/** A fake upstream on 127.0.0.1 that answers 200 "ok" and records each request. */
export function fakeUpstream(): Upstream {
  const seen: Upstream["seen"] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push({
      path: new URL(req.url).pathname + new URL(req.url).search,
      authorization: req.headers.get("authorization"),
      headers: req.headers,
    });
    return new Response("ok");
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    seen,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** One request through the sidecar: `{socketPath}` or `{port}` (loopback TCP). */
export function call(
  at: { socketPath: string } | { port: number },
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const where = "socketPath" in at
      ? { socketPath: at.socketPath }
      : { host: "127.0.0.1", port: at.port };
    const req = request({ ...where, method, path, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => body += c);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Writes `raw` HTTP/1.1 on a fresh Unix socket connection and reads until the sidecar closes it. */
export async function rawCall(socketPath: string, raw: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path: socketPath });
  await conn.write(new TextEncoder().encode(raw));
  let out = "";
  const buf = new Uint8Array(16_384);
  for (let n; (n = await conn.read(buf)) !== null;) {
    out += new TextDecoder().decode(buf.subarray(0, n));
  }
  conn.close();
  return out;
}

/**
 * A policy letting this test process (its uid and the Deno binary) use one service at
 * `upstream`; `inject` and `extra` are TOML for the service's table.
 */
export function oneServicePolicy(
  service: string,
  upstream: string,
  { inject = `"bearer"`, extra = "" }: { inject?: string; extra?: string } = {},
): Policy {
  return parsePolicy(`
[[caller]]
uid = ${Deno.uid()}
exe = "${DENO}"
services = ["${service}"]

[service.${service}]
upstream = "${upstream}"
inject = ${inject}
${extra}
`);
}
