/**
 * The `--tcp` mode: loopback only, `[[client]]` bearer tokens instead of peer credentials
 * (right, wrong, missing, in each place a token may travel), tokens never logged nor forwarded.
 */

import { parsePolicy, sidecarMain, startSidecar } from "../../lib/sidecar/mod.ts";
import type { CredentialSource } from "../../lib/sidecar/_credentials.ts";
import { PolicyInvalid } from "../../lib/sidecar/_policy.ts";
import { type AuditEntry, parseTcpAddress, TcpAddressRefused } from "../../lib/sidecar/_server.ts";
import { loadCliConfig } from "../../lib/config/mod.ts";
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { call, fakeUpstream } from "./_support.ts";

const TOKEN = "tok-" + "a1b2c3d4".repeat(5);
const OTHER = "tok-" + "ffffeeee".repeat(5);
const SECRET = "sk-upstream-secret";

const creds: CredentialSource = { fetch: () => Promise.resolve(SECRET) };

async function tcpSidecar() {
  const upstream = fakeUpstream();
  const policy = parsePolicy(`
[[client]]
name = "container-a"
token = "${TOKEN}"
services = ["openai", "keyed"]

[[client]]
name = "container-b"
token = "${OTHER}"
services = ["keyed"]

[service.openai]
upstream = "${upstream.base}"
inject = "bearer"

[service.keyed]
upstream = "${upstream.base}"
inject = { header = "x-api-key" }
`);
  const audit: AuditEntry[] = [];
  const sidecar = await startSidecar({
    tcp: { host: "127.0.0.1", port: 0 },
    policy: () => policy,
    credentials: creds,
    audit: (e) => audit.push(e),
  });
  return {
    at: { port: sidecar.port! },
    upstream,
    audit,
    async [Symbol.asyncDispose]() {
      await sidecar.close();
      await upstream[Symbol.asyncDispose]();
    },
  };
}

Deno.test("--tcp accepts only loopback addresses", () => {
  assertEquals(parseTcpAddress("127.0.0.1:9090"), { host: "127.0.0.1", port: 9090 });
  assertEquals(parseTcpAddress("127.1.2.3:0"), { host: "127.1.2.3", port: 0 });
  assertEquals(parseTcpAddress("[::1]:9090"), { host: "::1", port: 9090 });
  for (
    const bad of [
      "0.0.0.0:9090",
      "192.168.1.5:9090",
      "localhost:9090",
      "[::]:9090",
      "127.0.0.1",
      "9090",
      "127.0.0.1:70000",
      "127.0.0.300:80",
      "127.0.0.1:80 ",
    ]
  ) {
    assertThrows(() => parseTcpAddress(bad), TcpAddressRefused, "only a loopback address");
  }
});

Deno.test("deno task sidecar --tcp 0.0.0.0:9090 refuses to start with a clear error", async () => {
  const lines: string[] = [];
  const original = console.error;
  console.error = (line: string) => lines.push(line);
  try {
    const code = await sidecarMain(
      ["--device-key", "/nonexistent", "--tcp", "0.0.0.0:9090"],
      loadCliConfig({ HOME: "/tmp" }),
    );
    assertEquals(code, 1);
  } finally {
    console.error = original;
  }
  assert(lines.some((l) => l.includes("only a loopback address")), lines.join("\n"));
});

Deno.test("--tcp: the client's token as its API key is accepted; the upstream sees the secret, never the token", async () => {
  await using s = await tcpSidecar();
  const r = await call(s.at, "GET", "/openai/v1/models", { authorization: `Bearer ${TOKEN}` });
  assertEquals(r.status, 200);
  assertEquals(s.upstream.seen[0].authorization, `Bearer ${SECRET}`);
  // A header-injected service: the token travels in that header, or in X-AgentKeys-Token.
  assertEquals((await call(s.at, "GET", "/keyed/a", { "x-api-key": TOKEN })).status, 200);
  assertEquals((await call(s.at, "GET", "/keyed/b", { "x-agentkeys-token": TOKEN })).status, 200);
  for (const seen of s.upstream.seen) {
    for (const [, v] of seen.headers) assert(!v.includes(TOKEN), "the token reached upstream");
  }
  assertEquals(s.upstream.seen[1].headers.get("x-api-key"), SECRET);
  assertEquals(s.upstream.seen[2].headers.get("x-agentkeys-token"), null);
  assertEquals(s.audit.map((a) => [a.client, a.decision, a.pid]), [
    ["container-a", "forwarded", null],
    ["container-a", "forwarded", null],
    ["container-a", "forwarded", null],
  ]);
  const log = JSON.stringify(s.audit);
  assert(!log.includes(TOKEN) && !log.includes(SECRET), "the audit log holds a token or secret");
});

Deno.test("--tcp: a missing or wrong token is refused (401) before anything is fetched; another client's list holds", async () => {
  await using s = await tcpSidecar();
  const missing = await call(s.at, "GET", "/openai/v1/models");
  assertEquals(missing.status, 401);
  assertEquals(JSON.parse(missing.body).error, "client_denied");
  const wrong = await call(s.at, "GET", "/openai/v1/models", {
    authorization: `Bearer ${TOKEN.slice(0, -1)}x`,
  });
  assertEquals(wrong.status, 401);
  const placeholder = await call(s.at, "GET", "/openai/v1/models", {
    authorization: "Bearer agentkeys-placeholder",
  });
  assertEquals(placeholder.status, 401);
  const otherList = await call(s.at, "GET", "/openai/v1/models", {
    authorization: `Bearer ${OTHER}`,
  });
  assertEquals(otherList.status, 403);
  assertEquals(JSON.parse(otherList.body).error, "service_denied");
  assertEquals(s.upstream.seen.length, 0);
  assertEquals(s.audit.map((a) => a.decision), [
    "client_denied",
    "client_denied",
    "client_denied",
    "service_denied",
  ]);
});

Deno.test("[[client]] entries: short tokens and duplicate names are refused, and the error never repeats the token", () => {
  const svc = `[service.s]\nupstream = "https://x.example"\ninject = "bearer"\n`;
  let err = assertThrows(
    () => parsePolicy(`[[client]]\nname = "a"\ntoken = "short-secret"\nservices = ["s"]\n${svc}`),
    PolicyInvalid,
  );
  assert(!err.message.includes("short-secret"), err.message);
  err = assertThrows(
    () =>
      parsePolicy(
        `[[client]]\nname = "a"\ntoken = "${TOKEN}"\nservices = ["s"]\n` +
          `[[client]]\nname = "a"\ntoken = "${OTHER}"\nservices = ["s"]\n${svc}`,
      ),
    PolicyInvalid,
  );
  assert(err.message.includes("share a name"), err.message);
  assertThrows(
    () => parsePolicy(`[[client]]\nname = "a"\ntoken = "${TOKEN}"\nservices = ["nope"]\n${svc}`),
    PolicyInvalid,
  );
});
