/**
 * `static/` over HTTP: the stylesheet, the icon and the island bundle. Only names of letters,
 * digits, `_`, `-` and inner dots are served (no `..`, no dotfiles such as the build stamp), with
 * a content type from a short list. The bundle's chunks carry a content hash in their names, so
 * they are immutable; everything else is revalidated (`no-cache` with an ETag).
 *
 * @module
 */

import type { Context } from "hono";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** The folder served under `/static/`. */
export const STATIC_DIR = fileURLToPath(new URL("../../static/", import.meta.url));

const TYPES: Record<string, string> = {
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
};

const SAFE_PATH = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;
/** esbuild's chunk names: `name-HASH8.js`; `_client.js`, the fixed entry, has none. */
const HASHED = /^build\/[A-Za-z0-9_]+-[A-Z0-9]{8}\.js$/;

/** Answers `GET /static/<path>` from {@linkcode STATIC_DIR}; 404 for anything else. */
export async function serveStatic(c: Context, path: string): Promise<Response> {
  const type = TYPES[path.slice(path.lastIndexOf(".") + 1)];
  if (!SAFE_PATH.test(path) || path.includes("..") || type === undefined) return notFound(c);
  let file: Deno.FileInfo;
  let body: Uint8Array;
  try {
    const full = join(STATIC_DIR, path);
    file = await Deno.stat(full);
    if (!file.isFile) return notFound(c);
    body = await Deno.readFile(full);
  } catch {
    return notFound(c);
  }
  const etag = `W/"${file.size.toString(36)}-${(file.mtime?.getTime() ?? 0).toString(36)}"`;
  const headers: Record<string, string> = {
    "content-type": type,
    "cache-control": HASHED.test(path) ? "public, max-age=31536000, immutable" : "no-cache",
    etag,
  };
  if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
  return c.body(body as Uint8Array<ArrayBuffer>, 200, headers);
}

function notFound(c: Context): Response {
  return c.json({ error: "not_found", message: `no file ${c.req.path}` }, 404);
}
