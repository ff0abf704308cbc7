/**
 * The client's errors: an API's refusal as it came ({@linkcode ApiCallError}, which other
 * components see through `mod.ts`) and a job's event stream given up on.
 *
 * @module
 */

/**
 * The 401 codes that mean "this session is over" (expired, logged out, or not a session of this
 * service): the user has to sign in again. `deno task cli` exits 75 on them.
 */
export const SESSION_ENDED_CODES: readonly string[] = Object.freeze([
  "session_invalid",
  "session_expired",
  "session_revoked",
]);

/**
 * An error answer of the API: `{error, message}` with its status. Status 0 with code
 * `unreachable` when no answer came at all.
 */
export class ApiCallError extends Error {
  /** The service's own sentence (`message` of the answer). */
  readonly answer: string;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The whole answer: some refusals carry details (`job_id` of `job_running`). */
    readonly body: Record<string, unknown> = {},
  ) {
    super(`${code} (${status}): ${message}`);
    this.name = "ApiCallError";
    this.answer = message;
  }

  /** The session was refused as over: sign in again ({@linkcode SESSION_ENDED_CODES}). */
  get sessionEnded(): boolean {
    return this.status === 401 && SESSION_ENDED_CODES.includes(this.code);
  }
}

/** A job's event stream kept breaking without delivering anything; the job itself may run on. */
export class EventStreamLost extends Error {
  readonly code = "event_stream_lost";

  constructor(readonly jobId: string, attempts: number, cause: unknown) {
    super(
      `lost the event stream of job ${jobId} after ${attempts} attempts: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
    this.name = "EventStreamLost";
  }
}
