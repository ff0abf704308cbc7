/**
 * Request parsing shared by the routes: bearer tokens, JSON bodies, base64 payloads.
 *
 * @module
 */

import type { Context } from "hono";
import { ApiError } from "./errors.ts";

/** The token of `Authorization: Bearer <token>`; 401 `code` when absent. */
export function bearer(c: Context, code: string): string {
  const header = c.req.header("authorization") ?? "";
  const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header);
  if (!match) throw new ApiError(401, code, "send Authorization: Bearer <token>");
  return match[1];
}

/** The JSON object body; 400 for anything else. */
export async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new ApiError(400, "bad_request", "the body must be a JSON object");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, "bad_request", "the body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/** Like {@linkcode jsonBody}, but an empty body is `{}` (for routes whose fields are optional). */
export async function optionalJsonBody(c: Context): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await c.req.text();
  } catch {
    throw new ApiError(400, "bad_request", "the body could not be read");
  }
  if (text.trim() === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(400, "bad_request", "the body must be a JSON object");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, "bad_request", "the body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes standard padded base64 strictly; 400 naming `field` otherwise. */
export function base64Field(body: Record<string, unknown>, field: string): Uint8Array {
  const value = body[field];
  if (typeof value !== "string" || !BASE64.test(value)) {
    throw new ApiError(400, "bad_request", `${field} must be standard padded base64`);
  }
  return Uint8Array.fromBase64(value, { lastChunkHandling: "strict" });
}
