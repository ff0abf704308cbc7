/**
 * `/metrics`: the exposition parses with a Prometheus text-format parser (an independent
 * implementation, npm `parse-prometheus-text-format`) and has every family; request and cap
 * counting through the middleware; who may read it; the window in `/healthz`.
 *
 * @module
 */

// @ts-types="./_parse.d.ts"
import parsePrometheus from "parse-prometheus-text-format";
import { Hono } from "hono";
import { assert, assertEquals } from "../support/assert.ts";
import { ServiceMetrics } from "../../lib/metrics/mod.ts";
import { measureRequests, metricsOnlyApp, metricsRoutes } from "../../routes/metrics.ts";
import { ApiError, errorResponse } from "../../routes/errors.ts";
import { type Broker, SessionInvalid } from "../../lib/broker/mod.ts";
import { createApp } from "../../routes/app.ts";
import { LIMITS, testVault } from "../support/harness.ts";

const FAMILIES = [
  "agentkeys_http_requests_total",
  "agentkeys_http_request_duration_seconds",
  "agentkeys_caps_minted_total",
  "agentkeys_caps_refused_total",
  "agentkeys_epoch_blobs",
  "agentkeys_census_taken_timestamp_seconds",
  "agentkeys_reencrypt_jobs_total",
  "agentkeys_reencrypt_blobs_total",
  "agentkeys_lifecycle_steps_total",
  "agentkeys_lifecycle_step_duration_seconds",
  "agentkeys_ttl_swept_total",
  "agentkeys_forward_secrecy_window_seconds",
  "agentkeys_forward_secrecy_bound_seconds",
  "agentkeys_k3_active_epoch",
  "agentkeys_audit_anchor_lag_seconds",
];

interface Family {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; count?: string }[];
}

function metricsWithTraffic(): { metrics: ServiceMetrics; app: Hono } {
  const metrics = new ServiceMetrics({
    latestCensus: () =>
      Promise.resolve({
        taken_at: "2026-01-01T00:00:00.000Z",
        finished_at: "2026-01-01T00:00:01.000Z",
        scope: "global",
        global: { "1": 0, "2": 5, destroyed: 0, unknown: 0 },
      }),
    window: () => ({ seconds: 3600, oldest_epoch: 2, bound_seconds: 8 * 86400 }),
    activeEpoch: () => 2,
    anchorLagSeconds: () => Promise.resolve(42),
  });
  const app = new Hono();
  app.onError((err, c) => errorResponse(c, err));
  app.use("*", measureRequests(metrics));
  app.post("/v1/cap/cred-fetch", (c) => c.json({ cap: "x" }));
  app.post("/v1/cap/cred-store", () => {
    throw new ApiError(403, "out_of_scope", "no");
  });
  app.post("/v1/cred/fetch", () => {
    throw new ApiError(401, "cap_expired", "old");
  });
  app.post("/v1/cred/store", () => {
    throw new ApiError(413, "too_large", "big");
  });
  app.get("/v1/reencrypt/jobs/:id", (c) => c.json({ id: c.req.param("id") }));
  // A catch-all middleware registered after the routes (as sub-apps bring) is not the route.
  app.use("*", async (_c, next) => await next());
  return { metrics, app };
}

async function scrape(metrics: ServiceMetrics): Promise<Map<string, Family>> {
  const res = await metricsOnlyApp(metrics).request("/metrics");
  assertEquals(res.status, 200);
  assert(res.headers.get("content-type")!.startsWith("text/plain"));
  const families = parsePrometheus(await res.text()) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

Deno.test("/metrics parses as Prometheus text and has every family, with the traffic counted", async () => {
  const { metrics, app } = metricsWithTraffic();
  await app.request("/v1/cap/cred-fetch", { method: "POST" });
  await app.request("/v1/cap/cred-fetch", { method: "POST" });
  await app.request("/v1/cap/cred-store", { method: "POST" });
  await app.request("/v1/cred/fetch", { method: "POST" });
  await app.request("/v1/cred/store", { method: "POST" }); // not a cap refusal
  await app.request("/v1/reencrypt/jobs/abc", { method: "GET" });
  await app.request("/v1/reencrypt/jobs/def", { method: "GET" });
  await app.request("/nowhere");
  metrics.lifecycleStep("rotate", "done", 0.2);
  metrics.lifecycleStep("destroy", "deferred", 1.5);
  metrics.audited("reencrypt_job_finished", {
    state: "succeeded",
    counts: { reencrypted: 7, skipped: 1, failed: 0 },
  });
  metrics.audited("reencrypt_job_abandoned", {});
  metrics.audited("ttl_swept", { class: "memory" });

  const families = await scrape(metrics);
  for (const name of FAMILIES) assert(families.has(name), `family ${name} missing`);
  const value = (name: string, labels: Record<string, string> = {}) =>
    families.get(name)!.metrics.find((m) =>
      Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
    )?.value;
  assertEquals(families.get("agentkeys_http_request_duration_seconds")!.type, "HISTOGRAM");
  // Routes are patterns, not paths.
  assertEquals(
    value("agentkeys_http_requests_total", { route: "/v1/reencrypt/jobs/:id", status: "200" }),
    "2",
  );
  assertEquals(
    value("agentkeys_http_requests_total", { route: "(unmatched)", status: "404" }),
    "1",
  );
  assertEquals(value("agentkeys_caps_minted_total", { kind: "cred-fetch" }), "2");
  assertEquals(
    value("agentkeys_caps_refused_total", { stage: "mint", reason: "out_of_scope" }),
    "1",
  );
  assertEquals(value("agentkeys_caps_refused_total", { stage: "use", reason: "cap_expired" }), "1");
  assertEquals(value("agentkeys_caps_refused_total", { reason: "too_large" }), undefined);
  assertEquals(value("agentkeys_epoch_blobs", { epoch: "2" }), "5");
  assertEquals(
    value("agentkeys_census_taken_timestamp_seconds"),
    String(Date.parse("2026-01-01") / 1000),
  );
  assertEquals(value("agentkeys_reencrypt_jobs_total", { state: "succeeded" }), "1");
  assertEquals(value("agentkeys_reencrypt_jobs_total", { state: "aborted" }), "1");
  assertEquals(value("agentkeys_reencrypt_blobs_total", { outcome: "reencrypted" }), "7");
  assertEquals(
    value("agentkeys_lifecycle_steps_total", { step: "destroy", outcome: "deferred" }),
    "1",
  );
  assertEquals(value("agentkeys_ttl_swept_total", { class: "memory" }), "1");
  assertEquals(value("agentkeys_forward_secrecy_window_seconds"), "3600");
  assertEquals(value("agentkeys_forward_secrecy_bound_seconds"), String(8 * 86400));
  assertEquals(value("agentkeys_k3_active_epoch"), "2");
  assertEquals(value("agentkeys_audit_anchor_lag_seconds"), "42");
});

Deno.test("without an anchor-lag source the family is absent (not a made-up zero)", async () => {
  const families = await scrape(new ServiceMetrics({}));
  assert(!families.has("agentkeys_audit_anchor_lag_seconds"));
  assert(families.has("agentkeys_forward_secrecy_window_seconds"));
});

const ADMIN = "0x" + "aa".repeat(20);
const OPERATOR = "0x" + "bb".repeat(20);

/** The two things the route asks a broker: who the token is, and whether that is an admin. */
function stubBroker(): Broker {
  const session = (address: string, kind: "operator" | "agent" = "operator") => ({
    kind,
    address,
    operatorOmni: "0x" + "00".repeat(32),
    actorOmni: "0x" + "00".repeat(32),
    provedAt: 0,
    expiresAt: 0,
    jti: address,
  });
  return {
    options: { publicUrl: "http://localhost" },
    authenticate: (token?: string) => {
      if (token === "admin") return Promise.resolve(session(ADMIN));
      if (token === "operator") return Promise.resolve(session(OPERATOR));
      if (token === "agent") return Promise.resolve(session(ADMIN, "agent"));
      return Promise.reject(new SessionInvalid("session_invalid", "no such session"));
    },
    admins: { isAdmin: (a: string) => Promise.resolve(a === ADMIN) },
  } as unknown as Broker;
}

Deno.test("GET /metrics on the main port: admin sessions only", async () => {
  const app = new Hono();
  app.onError((err, c) => errorResponse(c, err));
  app.route("/", metricsRoutes({ broker: stubBroker(), metrics: new ServiceMetrics() }));
  const get = (token?: string) =>
    app.request("/metrics", { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const none = await get();
  assertEquals(none.status, 401);
  assertEquals((await none.json()).error, "session_invalid");
  for (const token of ["operator", "agent"]) {
    const refused = await get(token);
    assertEquals(refused.status, 403);
    assertEquals((await refused.json()).error, "admin_only");
  }
  const ok = await get("admin");
  assertEquals(ok.status, 200);
  assert((await ok.text()).includes("agentkeys_forward_secrecy_window_seconds"));
});

Deno.test("the scrapers' listener answers its own address, loopback names and IP literals, not a rebinding DNS name (fifth review)", async () => {
  const app = metricsOnlyApp(new ServiceMetrics(), { hostname: "scrape.internal", port: 9464 });
  const get = (host: string) => app.request(`http://${host}/metrics`, { headers: { host } });
  for (
    const host of [
      "scrape.internal:9464",
      "127.0.0.1:9464",
      "localhost:9464",
      "10.1.2.3:9464",
      "[::1]:9464",
      "[fd00::5]:9464",
    ]
  ) {
    assertEquals((await get(host)).status, 200, host);
  }
  const rebound = await get("evil.example:9464");
  assertEquals(rebound.status, 421);
  assertEquals((await rebound.json()).error, "misdirected_request");
  assertEquals((await get("scrape.internal.evil.example:9464")).status, 421);
});

Deno.test("the scrapers' listener serves /metrics only", async () => {
  const app = metricsOnlyApp(new ServiceMetrics());
  assertEquals((await app.request("/metrics")).status, 200);
  const other = await app.request("/healthz");
  assertEquals(other.status, 404);
  assertEquals((await other.json()).error, "not_found");
});

Deno.test("/healthz reports the forward-secrecy window, with a warning past its bound", async () => {
  await using v = await testVault();
  let window = { seconds: 100, oldest_epoch: 1, bound_seconds: 200 } as {
    seconds: number;
    oldest_epoch: number;
    bound_seconds: number | null;
    warning?: string;
  };
  const app = createApp({
    worker: v.worker,
    port: 80,
    limits: LIMITS,
    health: {
      version: "test",
      roles: ["worker"],
      store: "fs",
      chainId: null,
      activeEpoch: () => 1,
      window: () => window,
    },
  });
  const calm = await (await app.request("/healthz")).json();
  assertEquals([calm.forward_secrecy_window_seconds, calm.forward_secrecy_bound_seconds], [
    100,
    200,
  ]);
  assertEquals(calm.warnings, undefined);
  window = { ...window, seconds: 300, warning: "overdue" };
  const late = await (await app.request("/healthz")).json();
  assertEquals(late.warnings, ["overdue"]);
});

Deno.test("made-up request methods add no series (review: one series per method was unbounded)", async () => {
  const { metrics, app } = metricsWithTraffic();
  const before = (await scrape(metrics)).get("agentkeys_http_requests_total")!.metrics.length;
  for (let i = 0; i < 50; i++) {
    await app.request(`/nowhere`, { method: `X${"A".repeat(i * 100)}` });
  }
  await app.request("/nowhere", { method: "PATCH" });
  const series = (await scrape(metrics)).get("agentkeys_http_requests_total")!.metrics;
  const methods = new Set(series.map((m) => m.labels?.method));
  assert(!series.some((m) => (m.labels?.method ?? "").startsWith("X")), "a made-up method label");
  assert(methods.has("OTHER") && methods.has("PATCH"), [...methods].join(","));
  // Fifty made-up methods on one route and status: one OTHER series, plus PATCH's.
  assertEquals(series.length, before + 2);
});

Deno.test("cap refusals on keyring documents are counted like the other worker routes", async () => {
  const { metrics, app } = metricsWithTraffic();
  app.post("/v1/keyring/get", () => {
    throw new ApiError(403, "wrong_op", "a store cap");
  });
  await app.request("/v1/keyring/get", { method: "POST" });
  const refused = (await scrape(metrics)).get("agentkeys_caps_refused_total")!.metrics;
  // Was missing: only /v1/cred, /v1/memory and /v1/inbound refusals were read.
  assert(
    refused.some((m) => m.labels?.stage === "use" && m.labels?.reason === "wrong_op"),
    JSON.stringify(refused),
  );
});
