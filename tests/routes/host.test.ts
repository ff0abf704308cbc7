/**
 * DNS rebinding (review finding): only the public URL's host and the loopback names with the
 * bound port are served; any other Host is 421 `misdirected_request`.
 */

import type { Hono } from "hono";
import { assertEquals } from "../support/assert.ts";
import { createApp } from "../../routes/app.ts";
import { allowedHosts } from "../../routes/host.ts";
import { testService } from "../support/broker_harness.ts";
import { LIMITS, testVault } from "../support/harness.ts";

Deno.test("allowedHosts: the public URL's host and the three loopback names with the port", () => {
  assertEquals(
    allowedHosts({ publicUrl: "https://Vault.Example", port: 8787 }),
    new Set(["vault.example", "127.0.0.1:8787", "localhost:8787", "[::1]:8787"]),
  );
  assertEquals(
    allowedHosts({ port: 80 }),
    new Set(["127.0.0.1", "localhost", "[::1]"]),
    "port 80 is spelled the way request URLs spell it",
  );
});

Deno.test("Host check: a foreign host is 421; loopback with the bound port and the public host pass", async () => {
  // The harness app is bound to port 80 (app.request's implied http://localhost).
  await using s = await testService({ publicUrl: "https://vault.example:8443" });
  const status = async (url: string, init?: RequestInit) => {
    const res = await s.app.request(url, init);
    const body = await res.json();
    return res.status === 421 ? `421 ${body.error}` : res.status;
  };
  for (
    const url of [
      "http://evil.example/healthz",
      "http://evil.example:80/healthz",
      "http://127.0.0.1.nip.io/healthz", // a rebinding-friendly name for 127.0.0.1
      "http://127.0.0.1:8787/healthz", // loopback, but not the bound port
      "http://localhost:8443/healthz",
      "http://vault.example/healthz", // the public host without its port
      "http://vault.example:8444/healthz",
    ]
  ) {
    assertEquals(await status(url), "421 misdirected_request", url);
  }
  // Refused before anything else runs: a login start from a rebound page never gets a nonce.
  assertEquals(
    await status("http://evil.example/v1/auth/siwe/start", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ address: "0x" + "ab".repeat(20), chain_id: 31337 }),
    }),
    "421 misdirected_request",
  );
  for (
    const url of [
      "http://127.0.0.1/healthz",
      "http://localhost/healthz",
      "http://LOCALHOST/healthz",
      "http://[::1]/healthz",
      "http://vault.example:8443/healthz",
      "/healthz",
    ]
  ) {
    assertEquals(await status(url), 200, url);
  }
});

/** One raw HTTP/1.1 request (fetch cannot send a malformed Host); the status line's code and body. */
async function rawRequest(port: number, head: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`${head}Connection: close\r\n\r\n`));
    const text = await new Response(conn.readable).text();
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1]);
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    return { status, body: body === "" ? undefined : JSON.parse(body) };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

Deno.test("Host header on a real listener (second review): no path rewriting, no 500s, header and URL must agree", async () => {
  await using vault = await testVault();
  // The app needs the bound port, the listener needs the app: bind first, fill in after.
  const bound: { app?: Hono } = {};
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req, info) => bound.app!.fetch(req, info),
  );
  const port = server.addr.port;
  bound.app = createApp({
    worker: vault.worker,
    limits: LIMITS,
    port,
    health: {
      version: "test",
      roles: ["worker"],
      store: "fs",
      chainId: null,
      activeEpoch: () => 1,
    },
  });
  const logged: unknown[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const get = (target: string, host: string) =>
      rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n`);
    for (
      const [target, host] of [
        // The URL was http://127.0.0.1:PORT/healthz?/nowhere: /healthz answered instead of 404.
        ["/nowhere", `127.0.0.1:${port}/healthz?`],
        ["/nowhere", `127.0.0.1:${port}/healthz#`],
        ["/healthz", `[::1%25lo]:${port}`], // threw in new URL(): 500 and a stack trace
        ["/healthz", `127.0.0.1:${port}\tx`],
        ["/healthz", `127.0.0.1:${port}\\evil`],
        ["/healthz", `127.0.0.1:${port}@evil.example`],
        ["/healthz", `%31%32%37.0.0.1:${port}`],
        ["/healthz", `127.0.0.1:99999`],
        ["/healthz", `[::1:${port}`],
        // Absolute form: the URL says loopback, the Host header another name.
        [`http://127.0.0.1:${port}/healthz`, "evil.example"],
        [`http://evil.example/healthz`, `127.0.0.1:${port}`],
      ]
    ) {
      const r = await get(target, host);
      assertEquals([r.status, r.body?.error], [400, "bad_request"], JSON.stringify([target, host]));
    }
    assertEquals(logged, [], "nothing was logged as an unhandled error");
    // Well-formed but foreign names stay 421; this service's own pass, and so does no Host.
    assertEquals((await get("/healthz", "evil.example")).status, 421);
    assertEquals((await get("/healthz", `localhost.:${port}`)).status, 421);
    for (const host of [`127.0.0.1:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      assertEquals((await get("/healthz", host)).status, 200, host);
    }
    assertEquals((await get(`http://127.0.0.1:${port}/healthz`, `127.0.0.1:${port}`)).status, 200);
    assertEquals((await rawRequest(port, "GET /healthz HTTP/1.0\r\n")).status, 200);
    assertEquals((await get("/nowhere", `127.0.0.1:${port}`)).status, 404);
  } finally {
    console.error = error;
    await server.shutdown();
  }
});
