/**
 * Limits every route shares (routes/app.ts): bodies of the non-worker routes are small, so
 * nobody — signed in or not — can make the server buffer an unbounded body.
 */

import { assertEquals } from "../support/assert.ts";
import { SMALL_BODY_MAX } from "../../routes/app.ts";
import { epochWorld } from "./epochs_support.ts";

Deno.test("non-worker routes refuse bodies over 64 KiB with 413 too_large, before signing in", async () => {
  await using w = await epochWorld();
  // Valid JSON that the login would otherwise accept: the padding is an unknown field.
  const body = JSON.stringify({
    address: w.admin.account.address,
    chain_id: w.s.identity.chainId,
    pad: "a".repeat(SMALL_BODY_MAX),
  });
  const sized = await w.s.request("/v1/auth/siwe/start", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  assertEquals([sized.status, (await sized.json()).error], [413, "too_large"]);
  // Chunked (no Content-Length): counted while read.
  const chunked = await w.s.request("/v1/auth/siwe/start", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: ReadableStream.from([new TextEncoder().encode(body)]),
    duplex: "half",
  } as RequestInit);
  assertEquals([chunked.status, (await chunked.json()).error], [413, "too_large"]);
  const mint = await w.s.call("POST", "/v1/cap/cred-fetch", w.operator.token, {
    operator_omni: w.operator.omni,
    actor_omni: w.operator.omni,
    service: "openai",
    pad: "a".repeat(SMALL_BODY_MAX),
  });
  assertEquals([mint.status, mint.body.error], [413, "too_large"]);
  // Small bodies pass; the worker routes keep their own, larger, per-class limits.
  const small = await w.s.call("POST", "/v1/auth/siwe/start", undefined, {
    address: w.admin.account.address,
    chain_id: w.s.identity.chainId,
  });
  assertEquals(small.status, 200);
  const cap = await w.s.call("POST", "/v1/cap/memory-put", w.operator.token, {
    operator_omni: w.operator.omni,
    actor_omni: w.operator.omni,
    namespace: "notes",
  });
  const big = new Uint8Array(SMALL_BODY_MAX * 2).fill(7);
  const put = await w.s.call("POST", "/v1/memory/put", cap.body.cap as string, {
    namespace: "notes",
    name: "big",
    plaintext_b64: big.toBase64(),
  });
  assertEquals([put.status, put.body.size], [200, big.length]);
});

Deno.test("HEAD of an event stream is 405 and holds no stream slot (review: each HEAD leaked one)", async () => {
  await using w = await epochWorld();
  // A job exists, so the HEAD reaches a real stream route's path.
  await w.s.call("POST", "/v1/epochs/rotate", w.admin.token);
  const job = await w.s.call("POST", "/v1/reencrypt/jobs", w.operator.token, {
    operator_omni: w.operator.omni,
    old_epoch: 1,
    new_epoch: 2,
    dry_run: true,
  });
  assertEquals(job.status, 201);
  const auth = { authorization: `Bearer ${w.operator.token}` };
  for (
    const path of [
      `/v1/reencrypt/jobs/${job.body.job_id}/events`,
      "/v1/agents/events",
      "/v1/migrate/jobs/x/events",
    ]
  ) {
    for (let i = 0; i < 6; i++) {
      const head = await w.s.request(path, { method: "HEAD", headers: auth });
      assertEquals([head.status, head.headers.get("allow")], [405, "GET"], path);
      await head.body?.cancel();
    }
  }
  // Six HEADs later the session still opens a stream (the limit is a few per session).
  const res = await w.s.request(`/v1/reencrypt/jobs/${job.body.job_id}/events`, { headers: auth });
  assertEquals(res.status, 200);
  await res.body?.cancel();
  // Other routes keep answering HEAD.
  assertEquals((await w.s.request("/healthz", { method: "HEAD" })).status, 200);
});

Deno.test("inbound bodies are limited by the inbound limit, not the small-body one (review)", async () => {
  await using w = await epochWorld();
  const cap = await w.s.call("POST", "/v1/cap/inbound-put", w.operator.token, {
    operator_omni: w.operator.omni,
    actor_omni: w.operator.omni,
  });
  assertEquals(cap.status, 200, JSON.stringify(cap.body));
  const big = new Uint8Array(SMALL_BODY_MAX * 2).fill(9);
  const put = await w.s.call("POST", "/v1/inbound/put", cap.body.cap as string, {
    plaintext_b64: big.toBase64(),
  });
  assertEquals([put.status, put.body.size], [200, big.length]);
});
