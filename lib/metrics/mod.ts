/**
 * Service metrics in the Prometheus text format (`GET /metrics`), on `prom-client` (the
 * maintained Prometheus client for Node, which runs unchanged on Deno) with a registry of our
 * own (no process-global default metrics). The families:
 *
 * | family | type | labels |
 * |---|---|---|
 * | `agentkeys_http_requests_total` | counter | route, method, status |
 * | `agentkeys_http_request_duration_seconds` | histogram | route, method, status |
 * | `agentkeys_caps_minted_total` | counter | kind (`cred-fetch`, …) |
 * | `agentkeys_caps_refused_total` | counter | stage (`mint`, `use`), reason |
 * | `agentkeys_epoch_blobs` | gauge | epoch (latest global census) |
 * | `agentkeys_census_taken_timestamp_seconds` | gauge | |
 * | `agentkeys_reencrypt_jobs_total` | counter | state |
 * | `agentkeys_reencrypt_blobs_total` | counter | outcome (job throughput: `rate()` of it) |
 * | `agentkeys_lifecycle_steps_total` | counter | step, outcome |
 * | `agentkeys_lifecycle_step_duration_seconds` | histogram | step |
 * | `agentkeys_ttl_swept_total` | counter | class |
 * | `agentkeys_forward_secrecy_window_seconds` | gauge | |
 * | `agentkeys_forward_secrecy_bound_seconds` | gauge | |
 * | `agentkeys_k3_active_epoch` | gauge | |
 * | `agentkeys_audit_anchor_lag_seconds` | gauge | (only when an anchor-lag source is given) |
 *
 * Route labels are the matched route patterns (`/v1/reencrypt/jobs/:id`), never raw paths, so
 * the label set stays small.
 *
 * ```ts
 * const metrics = new ServiceMetrics({ window: () => forwardSecrecyWindow(keystore.list(), Date.now(), policy) });
 * metrics.observeRequest("/healthz", "GET", 200, 0.001);
 * const text = await metrics.text();
 * ```
 *
 * @module
 */

import client from "prom-client";
import type { ForwardSecrecyWindow } from "../lifecycle/mod.ts";
import type { AuditLog, Census } from "../state/mod.ts";

/** The request methods counted by name; anything else is counted as `OTHER`. */
const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Where the gauges read their values at scrape time. */
interface MetricsSources {
  /** The latest global census (blobs per epoch). */
  latestCensus?: () => Promise<Census | null>;
  /** The forward-secrecy window now. */
  window?: () => ForwardSecrecyWindow;
  activeEpoch?: () => number;
  /**
   * Seconds since the audit log's head was last anchored on chain (issue 11's integrity work);
   * absent until that component exposes it: the family is then not exported.
   */
  anchorLagSeconds?: () => Promise<number | null>;
}

/** The worker's refusals that are about the cap (not the request's data). */
const CAP_USE_REFUSALS = new Set([
  "cap_invalid",
  "cap_expired",
  "cap_replayed",
  "session_revoked",
  "wrong_op",
  "wrong_data_class",
  "out_of_scope",
  "read_only",
]);

/** See the module doc. */
export class ServiceMetrics {
  readonly registry = new client.Registry();
  readonly #requests: client.Counter<"route" | "method" | "status">;
  readonly #latency: client.Histogram<"route" | "method" | "status">;
  readonly #minted: client.Counter<"kind">;
  readonly #refused: client.Counter<"stage" | "reason">;
  readonly #jobs: client.Counter<"state">;
  readonly #jobBlobs: client.Counter<"outcome">;
  readonly #steps: client.Counter<"step" | "outcome">;
  readonly #stepSeconds: client.Histogram<"step">;
  readonly #swept: client.Counter<"class">;

  constructor(sources: MetricsSources = {}) {
    const registers = [this.registry];
    this.#requests = new client.Counter({
      name: "agentkeys_http_requests_total",
      help: "HTTP requests answered, by matched route, method and status",
      labelNames: ["route", "method", "status"],
      registers,
    });
    this.#latency = new client.Histogram({
      name: "agentkeys_http_request_duration_seconds",
      help:
        "Time to answer an HTTP request (until the response starts), by route, method and status",
      labelNames: ["route", "method", "status"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    this.#minted = new client.Counter({
      name: "agentkeys_caps_minted_total",
      help: "Capability tokens minted, by kind",
      labelNames: ["kind"],
      registers,
    });
    this.#refused = new client.Counter({
      name: "agentkeys_caps_refused_total",
      help:
        "Cap mints refused (stage=mint) and caps refused by the worker (stage=use), by error code",
      labelNames: ["stage", "reason"],
      registers,
    });
    const census = sources.latestCensus;
    new client.Gauge({
      name: "agentkeys_epoch_blobs",
      help: "Blobs per K3 epoch in the latest global census",
      labelNames: ["epoch"],
      registers,
      async collect() {
        this.reset();
        const latest = await census?.();
        for (const [epoch, n] of Object.entries(latest?.global ?? {})) this.set({ epoch }, n);
      },
    });
    new client.Gauge({
      name: "agentkeys_census_taken_timestamp_seconds",
      help: "When the latest global census started (0: none yet)",
      registers,
      async collect() {
        const latest = await census?.();
        this.set(latest ? Date.parse(latest.taken_at) / 1000 : 0);
      },
    });
    this.#jobs = new client.Counter({
      name: "agentkeys_reencrypt_jobs_total",
      help: "Re-encryption jobs finished, by final state",
      labelNames: ["state"],
      registers,
    });
    this.#jobBlobs = new client.Counter({
      name: "agentkeys_reencrypt_blobs_total",
      help: "Blobs handled by finished re-encryption jobs, by outcome",
      labelNames: ["outcome"],
      registers,
    });
    this.#steps = new client.Counter({
      name: "agentkeys_lifecycle_steps_total",
      help:
        "Epoch lifecycle steps finished, by step and outcome (done, deferred, adopted, retry, failed)",
      labelNames: ["step", "outcome"],
      registers,
    });
    this.#stepSeconds = new client.Histogram({
      name: "agentkeys_lifecycle_step_duration_seconds",
      help: "Duration of epoch lifecycle steps",
      labelNames: ["step"],
      buckets: [0.01, 0.1, 1, 10, 60, 600, 3600],
      registers,
    });
    this.#swept = new client.Counter({
      name: "agentkeys_ttl_swept_total",
      help: "Idle blobs deleted by the TTL sweep, by class",
      labelNames: ["class"],
      registers,
    });
    const window = sources.window;
    new client.Gauge({
      name: "agentkeys_forward_secrecy_window_seconds",
      help: "Age of the oldest K3 epoch not yet destroyed",
      registers,
      collect() {
        this.set(window?.().seconds ?? 0);
      },
    });
    new client.Gauge({
      name: "agentkeys_forward_secrecy_bound_seconds",
      help: "rotate-every + destroy-after: the window should stay below it (-1: rotation off)",
      registers,
      collect() {
        this.set(window?.().bound_seconds ?? -1);
      },
    });
    const active = sources.activeEpoch;
    new client.Gauge({
      name: "agentkeys_k3_active_epoch",
      help: "The active K3 epoch",
      registers,
      collect() {
        this.set(active?.() ?? 0);
      },
    });
    const lag = sources.anchorLagSeconds;
    if (lag) {
      new client.Gauge({
        name: "agentkeys_audit_anchor_lag_seconds",
        help: "Seconds since the audit log head was last anchored on chain",
        registers,
        async collect() {
          const v = await lag();
          if (v !== null) this.set(v);
        },
      });
    }
  }

  /** One answered request; `route` is the matched pattern. */
  observeRequest(route: string, method: string, status: number, seconds: number): void {
    // The method is the client's to choose (any token, any length): only known ones become a
    // label, or one request per made-up method would add series forever (review finding).
    const labels = {
      route,
      method: HTTP_METHODS.has(method) ? method : "OTHER",
      status: String(status),
    };
    this.#requests.inc(labels);
    this.#latency.observe(labels, seconds);
  }

  capMinted(kind: string): void {
    this.#minted.inc({ kind });
  }

  capRefused(stage: "mint" | "use", reason: string): void {
    this.#refused.inc({ stage, reason });
  }

  /** Whether a worker refusal's code is about the cap. */
  static isCapRefusal(code: string): boolean {
    return CAP_USE_REFUSALS.has(code);
  }

  /** The scheduler's `onStep`. */
  lifecycleStep(step: string, outcome: string, seconds: number): void {
    this.#steps.inc({ step, outcome });
    this.#stepSeconds.observe({ step }, seconds);
  }

  /**
   * Feeds the counters that follow audit entries: job ends (`reencrypt_job_finished`,
   * `reencrypt_job_abandoned`) and TTL tombstones (`ttl_swept`). See {@linkcode observeAudit}.
   */
  audited(kind: string, data: Record<string, unknown>): void {
    if (kind === "reencrypt_job_finished") {
      this.#jobs.inc({ state: String(data.state) });
      const counts = (data.counts ?? {}) as Record<string, number>;
      for (
        const outcome of ["reencrypted", "would_reencrypt", "skipped", "other_epoch", "failed"]
      ) {
        const n = counts[outcome];
        if (typeof n === "number" && n > 0) this.#jobBlobs.inc({ outcome }, n);
      }
    } else if (kind === "reencrypt_job_abandoned") {
      this.#jobs.inc({ state: "aborted" });
    } else if (kind === "ttl_swept") {
      this.#swept.inc({ class: String(data.class) });
    }
  }

  /** The exposition, `text/plain; version=0.0.4`. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * An audit log that also tells `listener` what was appended (after the append succeeded).
 *
 * ```ts
 * const audit = observeAudit(new KvAuditLog(kv), (kind, data) => metrics.audited(kind, data));
 * ```
 */
export function observeAudit(
  log: AuditLog,
  listener: (kind: string, data: Record<string, unknown>) => void,
): AuditLog {
  return {
    async append(kind, data) {
      const entry = await log.append(kind, data);
      try {
        listener(kind, data);
      } catch {
        // Metrics never break the audit log.
      }
      return entry;
    },
    verify: () => log.verify(),
  };
}
