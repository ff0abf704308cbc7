/**
 * The HTTP client of the job routes (API.md, "Re-encryption jobs"), for `deno task reencrypt
 * --url`: start a job, follow its `text/event-stream` with `Last-Event-ID` reconnects, cancel.
 *
 * Errors map to the component's typed errors so the CLI picks exit codes the same way as
 * in-process: 400 → `InvalidReencryptParams`, 401 → `SessionExpired`, 409 `job_running` →
 * `JobRunning`, 404 → `JobNotFound`; anything else is a {@linkcode RemoteError}.
 *
 * @module
 */

import type { JobEvent } from "../state/mod.ts";
import {
  InvalidReencryptParams,
  JobNotFound,
  type JobRequest,
  JobRunning,
  ReencryptError,
  SessionExpired,
} from "../reencrypt/mod.ts";
import { SseParser } from "./_sse.ts";

/** A refusal or failure of the service that has no more specific class. */
export class RemoteError extends ReencryptError {
  constructor(readonly status: number, code: string, message: string) {
    super(code, `${message} (HTTP ${status})`);
  }
}

/** The event stream broke more times in a row than allowed without delivering anything. */
export class EventStreamLost extends ReencryptError {
  constructor(readonly jobId: string, attempts: number, cause: unknown) {
    super(
      "event_stream_lost",
      `lost the event stream of job ${jobId} after ${attempts} attempts: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
  }
}

/** Options of {@linkcode RemoteJobClient}. */
export interface RemoteJobOptions {
  /** The service's base URL, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** An operator session JWT (`AGENTKEYS_SESSION`). */
  token: string;
  fetch?: typeof fetch;
  /** Consecutive failed (re)connects before giving up. Default 8. */
  maxReconnects?: number;
  /** First reconnect delay; doubles up to 5 s. Default 250 ms. */
  retryDelayMs?: number;
}

/**
 * Talks to a running service's job routes.
 *
 * ```ts
 * const client = new RemoteJobClient({ url: "http://127.0.0.1:8787", token: session });
 * const jobId = await client.start({ operator_omni, old_epoch: 1, new_epoch: 2 });
 * for await (const e of client.events(jobId)) if (e.event === "summary") console.log(e.data);
 * ```
 */
export class RemoteJobClient {
  readonly #base: string;
  readonly #fetch: typeof fetch;

  constructor(readonly options: RemoteJobOptions) {
    this.#base = options.url.replace(/\/+$/, "");
    this.#fetch = options.fetch ?? fetch;
  }

  /** `POST /v1/reencrypt/jobs` → the new job's id. */
  async start(request: JobRequest): Promise<string> {
    const res = await this.#fetch(`${this.#base}/v1/reencrypt/jobs`, {
      method: "POST",
      headers: { ...this.#auth(), "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    const body = await this.#json(res, request.operator_omni, false);
    if (typeof body.job_id !== "string") {
      throw new RemoteError(res.status, "bad_response", "the service answered without a job_id");
    }
    return body.job_id;
  }

  /** `POST /v1/reencrypt/jobs/:id/cancel`. */
  async cancel(jobId: string): Promise<void> {
    const res = await this.#fetch(
      `${this.#base}/v1/reencrypt/jobs/${encodeURIComponent(jobId)}/cancel`,
      { method: "POST", headers: this.#auth() },
    );
    await this.#json(res, jobId);
  }

  /**
   * The job's events after `afterId`, reconnecting with `Last-Event-ID` when the stream breaks,
   * until `end`. Throws {@linkcode EventStreamLost} after too many failed reconnects in a row.
   */
  async *events(jobId: string, afterId = 0): AsyncGenerator<JobEvent> {
    let last = afterId;
    let failures = 0;
    const max = this.options.maxReconnects ?? 8;
    for (;;) {
      let progressed = false;
      let failure: unknown = new Error("the stream ended before the job's end event");
      try {
        const headers: Record<string, string> = { ...this.#auth(), accept: "text/event-stream" };
        if (last > 0) headers["last-event-id"] = String(last);
        const res = await this.#fetch(
          `${this.#base}/v1/reencrypt/jobs/${encodeURIComponent(jobId)}/events`,
          { headers },
        );
        if (!res.ok) await this.#json(res, jobId); // throws the typed error
        if (!res.body) throw new Error("the event stream has no body");
        const parser = new SseParser();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            for (const message of parser.push(value)) {
              const id = Number(message.id);
              if (!Number.isSafeInteger(id) || id <= last) continue; // replayed twice
              const event = message.event as JobEvent["event"];
              const e: JobEvent = { id, event, data: JSON.parse(message.data || "{}") };
              last = id;
              progressed = true;
              yield e;
              if (event === "end") return;
            }
          }
        } finally {
          await reader.cancel().catch(() => {});
        }
      } catch (err) {
        if (err instanceof ReencryptError && !(err instanceof RemoteError)) throw err;
        if (err instanceof RemoteError && err.status < 500) throw err;
        failure = err;
      }
      failures = progressed ? 1 : failures + 1;
      if (failures > max) throw new EventStreamLost(jobId, failures, failure);
      const base = this.options.retryDelayMs ?? 250;
      await new Promise((r) => setTimeout(r, Math.min(5000, base * 2 ** (failures - 1))));
    }
  }

  #auth(): Record<string, string> {
    return { authorization: `Bearer ${this.options.token}` };
  }

  /** The JSON body of a 2xx answer; otherwise throws the typed error for the status. */
  async #json(res: Response, subject: string, isJob = true): Promise<Record<string, unknown>> {
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text === "" ? {} : JSON.parse(text);
    } catch {
      if (res.ok) throw new RemoteError(res.status, "bad_response", "the answer is not JSON");
    }
    if (res.ok) return body;
    const code = typeof body.error === "string" ? body.error : `http_${res.status}`;
    const message = typeof body.message === "string" ? body.message : res.statusText;
    if (res.status === 400) throw new InvalidReencryptParams(message);
    if (res.status === 401) throw new SessionExpired(`${message} (HTTP 401)`);
    if (res.status === 404 && isJob) throw new JobNotFound(subject);
    if (res.status === 409 && code === "job_running") {
      throw new JobRunning(typeof body.job_id === "string" ? body.job_id : "?", subject);
    }
    throw new RemoteError(res.status, code, message);
  }
}
