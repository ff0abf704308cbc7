import { join } from "node:path";
import {
  callerRuleFor,
  parsePolicy,
  PolicyFile,
  PolicyInvalid,
  requestAllowed,
} from "../../lib/sidecar/_policy.ts";
import { CredentialCache } from "../../lib/sidecar/_cache.ts";
import { parseTarget, responseHeaders, upstreamRequest } from "../../lib/sidecar/_target.ts";
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";

const GOOD = `
[[caller]]
uid = 1000
exe = "/usr/bin/python3"
services = ["openai", "anthropic"]
reveal = false

[[caller]]
uid = 1000
exe = "/usr/bin/node"
services = ["openai"]
reveal = true

[service.openai]
upstream = "https://api.openai.com/"
inject = "bearer"
methods = ["GET", "POST"]
paths = ["/v1/chat"]

[service.anthropic]
upstream = "https://api.anthropic.com"
inject = { header = "X-Api-Key" }

[service.maps]
upstream = "https://maps.example.com/api"
inject = { query = "key" }
`;

Deno.test("parsePolicy reads callers, services and the three injection kinds", () => {
  const p = parsePolicy(GOOD);
  assertEquals(p.callers.length, 2);
  assertEquals(p.callers[0].reveal, false);
  assertEquals(p.callers[1].reveal, true);
  assertEquals(p.services.openai.upstream, "https://api.openai.com");
  assertEquals(p.services.openai.inject, { kind: "bearer" });
  assertEquals(p.services.anthropic.inject, { kind: "header", name: "x-api-key" });
  assertEquals(p.services.maps.inject, { kind: "query", name: "key" });
  assertEquals(p.services.openai.methods, ["GET", "POST"]);
});

Deno.test("parsePolicy refuses malformed TOML and every schema violation", () => {
  const bad = [
    "[[caller]\nuid = 1",
    `[other]\nx = 1`,
    `[service.x]\nupstream = "ftp://h"\ninject = "bearer"`,
    `[service.x]\nupstream = "https://h?k=v"\ninject = "bearer"`,
    `[service.x]\nupstream = "https://h"\ninject = "basic"`,
    `[service.x]\nupstream = "https://h"\ninject = { header = "bad header" }`,
    `[service.x]\nupstream = "https://h"\ninject = "bearer"\nmethods = ["get"]`,
    `[service.x]\nupstream = "https://h"\ninject = "bearer"\npaths = ["v1"]`,
    `[service.X]\nupstream = "https://h"\ninject = "bearer"`,
    `[[caller]]\nuid = -1\nexe = "/bin/sh"\nservices = []`,
    `[[caller]]\nuid = 1\nexe = "sh"\nservices = []`,
    `[[caller]]\nuid = 1\nexe = "/bin/sh"\nservices = ["nope"]`,
    `[[caller]]\nuid = 1\nexe = "/bin/sh"\nservices = []\nreveal = "yes"`,
  ];
  for (const text of bad) assertThrows(() => parsePolicy(text), PolicyInvalid);
});

Deno.test("callerRuleFor denies unknown callers, other uids and a caller whose binary is unknown", () => {
  const p = parsePolicy(GOOD);
  assertEquals(callerRuleFor(p, { uid: 1000, exe: "/usr/bin/python3" })?.services, [
    "openai",
    "anthropic",
  ]);
  assertEquals(callerRuleFor(p, { uid: 1001, exe: "/usr/bin/python3" }), undefined);
  assertEquals(callerRuleFor(p, { uid: 1000, exe: "/usr/bin/perl" }), undefined);
  assertEquals(callerRuleFor(p, { uid: 1000, exe: null }), undefined);
});

Deno.test("requestAllowed applies method and path-prefix allow-lists on segment boundaries", () => {
  const s = parsePolicy(GOOD).services.openai;
  assert(requestAllowed(s, "POST", "/v1/chat/completions"));
  assert(requestAllowed(s, "GET", "/v1/chat"));
  assert(!requestAllowed(s, "DELETE", "/v1/chat"));
  assert(!requestAllowed(s, "GET", "/v1/chatter"));
  assert(!requestAllowed(s, "GET", "/v1/files"));
  assert(requestAllowed(parsePolicy(GOOD).services.anthropic, "DELETE", "/anything"));
});

Deno.test("PolicyFile reloads a changed file and keeps the last good policy when the new one is malformed", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "policy.toml");
  await Deno.writeTextFile(path, GOOD);
  const logs: string[] = [];
  const file = await PolicyFile.open(path, (l) => logs.push(l));
  assertEquals(file.current.callers.length, 2);
  assertEquals(await file.refresh(), false);

  await Deno.writeTextFile(path, GOOD.replace("reveal = true", "reveal = false") + "\n");
  assertEquals(await file.refresh(), true);
  assertEquals(file.current.callers[1].reveal, false);

  await Deno.writeTextFile(path, "[[caller]\nthis is not toml");
  assertEquals(await file.refresh(), false);
  assertEquals(file.current.callers.length, 2, "the previous policy stays in force");
  assert(logs.some((l) => l.includes("rejected") && l.includes("not valid TOML")), logs.join("\n"));
});

Deno.test("PolicyFile refuses to start on a malformed file", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "policy.toml");
  await Deno.writeTextFile(path, `[service.x]\nupstream = "nope"\ninject = "bearer"`);
  let caught: unknown;
  try {
    await PolicyFile.open(path, () => {});
  } catch (err) {
    caught = err;
  }
  assert(caught instanceof PolicyInvalid);
});

Deno.test("CredentialCache expires entries after the TTL and holds at most maxEntries", () => {
  let now = 0;
  const cache = new CredentialCache(5 * 60_000, 3, () => now);
  cache.set("a", "1");
  now = 5 * 60_000 - 1;
  assertEquals(cache.get("a"), "1");
  now = 5 * 60_000;
  assertEquals(cache.get("a"), undefined);
  for (const s of ["a", "b", "c", "d"]) cache.set(s, s);
  assertEquals(cache.size, 3);
  assertEquals(cache.get("a"), undefined, "the oldest entry went first");
  assertEquals(cache.get("d"), "d");
  cache.drop("d");
  assertEquals(cache.get("d"), undefined);
});

Deno.test("parseTarget splits service and path and refuses traversal in every encoding", () => {
  assertEquals(parseTarget("/openai/v1/models?limit=2"), {
    kind: "proxy",
    service: "openai",
    path: "/v1/models",
    query: "limit=2",
  });
  assertEquals(parseTarget("/v1/credentials/openai"), { kind: "reveal", service: "openai" });
  for (
    const raw of [
      "/openai/../admin",
      "/openai/v1/..",
      "/openai/%2e%2e/admin",
      "/openai/%2E%2E/admin",
      "/openai/.%2e/admin",
      "/openai/a%2fb",
      "/openai/%252e%252e/admin",
      "/openai/a%5c..%5cb",
      "/openai/a\\..\\b",
      "/openai/./x",
      "/openai/%zz",
      "//",
      "openai/x",
    ]
  ) {
    assertEquals(parseTarget(raw).kind, "bad", raw);
  }
});

Deno.test("upstreamRequest removes the placeholder and hop-by-hop headers and injects the secret", () => {
  // node's rawHeaders: names as the client spelled them, repeats kept.
  const incoming = [
    "Authorization",
    "Bearer agentkeys-placeholder",
    "authorization",
    "Bearer agentkeys-placeholder-2",
    "X-Api-Key",
    "agentkeys-placeholder",
    "Connection",
    "keep-alive, x-drop",
    "connection",
    "X-Drop-Too",
    "X-Drop",
    "1",
    "x-drop-too",
    "1",
    "Keep-Alive",
    "timeout=5",
    "Host",
    "sidecar",
    "Content-Length",
    "0",
    "X-AgentKeys-Token",
    "tok",
    "Content-Type",
    "application/json",
  ];
  const req = (...args: Parameters<typeof upstreamRequest>) => {
    const r = upstreamRequest(...args);
    return { url: r.url, headers: new Headers(r.headers), pairs: r.headers };
  };
  const bearer = req(
    "https://u.example/base",
    { path: "/v1/x", query: "a=1" },
    {
      kind: "bearer",
    },
    incoming,
    "sk-real",
  );
  assertEquals(bearer.url.href, "https://u.example/base/v1/x?a=1");
  assertEquals(bearer.headers.get("authorization"), "Bearer sk-real");
  assertEquals(bearer.pairs.filter(([k]) => k === "authorization").length, 1);
  assertEquals(bearer.headers.get("x-drop"), null);
  assertEquals(bearer.headers.get("x-drop-too"), null);
  assertEquals(bearer.headers.get("keep-alive"), null);
  assertEquals(bearer.headers.get("connection"), null);
  assertEquals(bearer.headers.get("host"), null);
  assertEquals(bearer.headers.get("content-length"), null);
  assertEquals(bearer.headers.get("x-agentkeys-token"), null);
  assertEquals(bearer.headers.get("content-type"), "application/json");
  assert(!JSON.stringify(bearer.pairs).includes("agentkeys-placeholder-2"));

  const header = req(
    "https://u.example",
    { path: "/", query: "" },
    {
      kind: "header",
      name: "x-api-key",
    },
    incoming,
    "sk-real",
  );
  assertEquals(header.headers.get("x-api-key"), "sk-real");
  assertEquals(header.pairs.filter(([k]) => k === "x-api-key").length, 1);

  const query = req(
    "https://u.example",
    { path: "/m", query: "key=agentkeys-placeholder&q=1" },
    {
      kind: "query",
      name: "key",
    },
    [],
    "sk-real",
  );
  assertEquals(query.url.searchParams.getAll("key"), ["sk-real"]);
  assertEquals(query.url.searchParams.get("q"), "1");
});

Deno.test("responseHeaders drops hop-by-hop headers and those Connection names; repeats stay repeated", () => {
  const upstream: [string, string][] = [
    ["connection", "x-hop"],
    ["connection", "x-hop-2"],
    ["x-hop", "1"],
    ["x-hop-2", "1"],
    ["keep-alive", "timeout=5"],
    ["transfer-encoding", "chunked"],
    ["content-type", "text/plain"],
    ["content-encoding", "gzip"],
    ["content-length", "12"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
    ["x-multi", "1"],
    ["x-multi", "2"],
  ];
  // Encoding and length pass as they came: the node client hands the body over undecoded.
  assertEquals(responseHeaders(upstream), {
    "content-type": "text/plain",
    "content-encoding": "gzip",
    "content-length": "12",
    "set-cookie": ["a=1", "b=2"],
    "x-multi": ["1", "2"],
  });
});
