/**
 * Keeps the credential cache honest between TTLs: follows the service's agent event stream
 * (`GET /v1/agents/events`) and empties the cache on the agent's revocation, a scope change or
 * an epoch rotation — and on every (re)connect, since events during a gap are not replayed.
 * Reconnects with exponential backoff; while the service is down the cache keeps serving until
 * its entries expire.
 *
 * @module
 */

import type { AgentStreamEvent } from "../client/mod.ts";
import type { CredentialCache } from "./_cache.ts";

/** Opens one event stream of the agent (with a fresh session when needed); `signal` closes it. */
export interface AgentEventSource {
  events(signal: AbortSignal): AsyncIterable<AgentStreamEvent>;
}

export interface InvalidatorOptions {
  log?: (line: string) => void;
  /** First reconnect delay; doubles per failed attempt up to `maxDelayMs`. Default 250 ms. */
  minDelayMs?: number;
  /** Default 30 s. */
  maxDelayMs?: number;
}

/**
 * ```ts
 * const watcher = new CacheInvalidator(credentials, sidecar.cache, { log });
 * watcher.start();
 * ```
 */
export class CacheInvalidator {
  #closed = false;
  #connected = false;
  #wake?: () => void;
  #loop?: Promise<void>;
  readonly #abort = new AbortController();

  constructor(
    private readonly source: AgentEventSource,
    private readonly cache: CredentialCache,
    private readonly options: InvalidatorOptions = {},
  ) {}

  /** Whether the stream is open (after its `ready`). */
  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    // A pending read only ends when its connection does.
    this.#abort.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const log = this.options.log ?? (() => {});
    const min = this.options.minDelayMs ?? 250;
    const max = this.options.maxDelayMs ?? 30_000;
    let failures = 0;
    let lastProblem = "";
    let everConnected = false;
    while (!this.#closed) {
      let problem = "the event stream ended";
      try {
        for await (const e of this.source.events(this.#abort.signal)) {
          if (this.#closed) break;
          if (e.event === "heartbeat") continue;
          if (e.event === "end") {
            problem = `the event stream ended: ${String(e.data.reason ?? "no reason")}`;
            // A session that simply expired is renewed at once; anything else backs off.
            if (e.data.reason === "session_expired") failures = 0;
            break;
          }
          // ready included: whatever happened while we were not listening is unknown.
          this.cache.clear();
          if (e.event === "ready") {
            this.#connected = true;
            failures = 0;
            // One line per connect after a problem (or the first), not one per session renewal.
            if (lastProblem || !everConnected) log("event stream connected");
            everConnected = true;
            lastProblem = "";
          } else {
            log(`${e.event}: credential cache emptied`);
          }
        }
      } catch (err) {
        problem = `event stream failed: ${(err as Error).message}`;
      } finally {
        this.#connected = false;
      }
      if (this.#closed) break;
      // Logged when it changes, not on every retry, so an outage is one line, not thousands.
      if (problem !== lastProblem) log(`${problem}; reconnecting with backoff`);
      lastProblem = problem;
      const delay = failures === 0 ? 0 : Math.min(max, min * 2 ** (failures - 1));
      failures++;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }
}
