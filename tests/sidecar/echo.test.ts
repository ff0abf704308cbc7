/**
 * An upstream that echoes the injected secret in a response header — a redirect keeping the query
 * string the secret went into, a debugging header — must not show it to the agent (fourth review:
 * a trailing-slash redirect handed a `reveal = false` caller `?key=sk-…`). The sidecar puts the
 * placeholder where the secret was, as sent and URL-encoded.
 */

import { join } from "node:path";
import { startSidecar } from "../../lib/sidecar/mod.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { oneServicePolicy, rawCall } from "./_support.ts";

/** Characters that URL encoding changes, so every form of the secret is exercised. */
const SECRET = "sk-echo secret/+=&";

const rawGet = (socketPath: string, path: string) =>
  rawCall(socketPath, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

Deno.test("sidecar: an upstream echoing the injected secret in response headers shows the agent the placeholder, never the secret", async () => {
  await using dir = await tempDir();
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/v1/models") {
      // A trailing-slash redirect that keeps the query, as many frameworks do.
      return new Response(null, {
        status: 301,
        headers: { location: `/v1/models/${url.search}` },
      });
    }
    return new Response("ok", {
      headers: {
        "x-debug-key": url.searchParams.get("key") ?? "",
        "x-debug-query": url.search,
      },
    });
  });
  const policy = oneServicePolicy("api", `http://127.0.0.1:${upstream.addr.port}`, {
    inject: `{ query = "key" }`,
  });
  const socketPath = join(dir.path, "run", "agentkeys-proxy.sock");
  const sidecar = await startSidecar({
    socketPath,
    policy: () => policy,
    credentials: { fetch: () => Promise.resolve(SECRET) },
    audit: () => {},
  });
  try {
    const redirect = await rawGet(socketPath, "/api/v1/models?key=agentkeys-placeholder");
    assert(redirect.startsWith("HTTP/1.1 301"), redirect);
    const location = /\r\nlocation: ([^\r]*)/i.exec(redirect)?.[1];
    assertEquals(location, "/v1/models/?key=agentkeys-placeholder");
    const echoed = await rawGet(socketPath, "/api/v1/other");
    assert(echoed.startsWith("HTTP/1.1 200"), echoed);
    for (
      const form of [
        SECRET,
        encodeURIComponent(SECRET),
        new URLSearchParams({ k: SECRET }).toString().slice(2),
      ]
    ) {
      assert(!redirect.includes(form) && !echoed.includes(form), `the agent saw ${form}`);
    }
    assertEquals(/\r\nx-debug-key: ([^\r]*)/i.exec(echoed)?.[1], "agentkeys-placeholder");
    assertEquals(/\r\nx-debug-query: ([^\r]*)/i.exec(echoed)?.[1], "?key=agentkeys-placeholder");
  } finally {
    await sidecar.close();
    await upstream.shutdown();
  }
});
