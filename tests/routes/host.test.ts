/**
 * DNS rebinding (review finding): only the public URL's host and the loopback names with the
 * bound port are served; any other Host is 421 `misdirected_request`.
 */

import { assertEquals } from "../support/assert.ts";
import { allowedHosts } from "../../routes/host.ts";
import { testService } from "../support/broker_harness.ts";

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
