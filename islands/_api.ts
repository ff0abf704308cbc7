/**
 * The islands' calls to the service's JSON API: same origin, so the browser adds the HttpOnly
 * session cookie itself (islands never see it) and `Sec-Fetch-Site: same-origin`, which the
 * cookie routes require for writes.
 *
 * @module
 */

/** An error answer of the API (`{error, message}`), as the islands see it. */
export class ApiAnswerError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = "ApiAnswerError";
  }
}

/**
 * POSTs `body` as JSON to `path`; returns the JSON answer or throws {@linkcode ApiAnswerError}.
 * With `bearer` (a cap for the worker routes) the cookie is not sent: the cap authenticates.
 */
export async function postJson<T = Record<string, unknown>>(
  path: string,
  body: unknown = {},
  options: { bearer?: string } = {},
): Promise<T> {
  const res = await fetch(path, {
    method: "POST",
    ...(options.bearer === undefined ? {} : { credentials: "omit" as const }),
    headers: {
      "content-type": "application/json",
      ...(options.bearer === undefined ? {} : { authorization: `Bearer ${options.bearer}` }),
    },
    body: JSON.stringify(body),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) {
    throw new ApiAnswerError(
      res.status,
      typeof answer.error === "string" ? answer.error : "http_error",
      typeof answer.message === "string" ? answer.message : `the service answered ${res.status}`,
    );
  }
  return answer as T;
}
