/**
 * The rules every {@linkcode BlobStore} applies to keys, prefixes and arguments, shared so that the
 * fs and S3 stores accept and refuse exactly the same input.
 *
 * A key is one or more `/`-separated segments. The fs store maps a key to a path under its root,
 * so anything a path could use to escape or alias is refused (`..`, `.`, empty segments, a leading
 * `/`, backslashes); control characters are refused because they break logs and terminals.
 *
 * @module
 */

import type { ListOptions, PutConditions } from "./_types.ts";
import { InvalidKey } from "./_errors.ts";

/** S3's limit on a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** The usual file-name limit (ext4, xfs, tmpfs), so a key valid on one store is valid on both. */
export const MAX_SEGMENT_BYTES = 255;
/** Default and maximum keys per listing page (S3 `MaxKeys` caps at 1000). */
export const DEFAULT_PAGE_SIZE = 1000;

const encoder = new TextEncoder();
// C0 controls, DEL, C1 controls, backslash (a path separator elsewhere). U+FFFD is refused too: it is what a file name that is not valid
// UTF-8 reads back as, so such a name could never be addressed again.
// deno-lint-ignore no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f-\u009f\\\ufffd]/;
// A lone surrogate cannot be encoded as UTF-8: the key would silently change on the way out.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether `key` is a valid object key; {@linkcode validateKey} says the same by throwing. */
export function isValidKey(key: string): boolean {
  if (typeof key !== "string" || key.length === 0) return false;
  if (FORBIDDEN_CHARS.test(key) || LONE_SURROGATE.test(key)) return false;
  if (encoder.encode(key).length > MAX_KEY_BYTES) return false;
  for (const segment of key.split("/")) {
    if (segment === "" || segment === "." || segment === "..") return false;
    if (encoder.encode(segment).length > MAX_SEGMENT_BYTES) return false;
  }
  return true;
}

/**
 * Throws {@linkcode InvalidKey} unless `key` is a valid object key.
 *
 * @example
 * ```ts
 * validateKey("bots/a1/credentials/github.enc"); // fine
 * validateKey("bots/../etc/passwd"); // throws InvalidKey
 * ```
 */
export function validateKey(key: string): void {
  if (!isValidKey(key)) throw new InvalidKey(key);
}

/**
 * Throws {@linkcode InvalidKey} unless `prefix` can start a valid key: `""`, whole segments
 * (`"bots/a1/"`), or whole segments and the start of one (`"bots/a1/cred"`).
 *
 * @example
 * ```ts
 * validatePrefix("bots/"); // fine
 * validatePrefix("bots//"); // throws InvalidKey
 * ```
 */
export function validatePrefix(prefix: string): void {
  if (typeof prefix !== "string") throw new InvalidKey(String(prefix));
  if (prefix === "") return;
  // The last segment may be partial, including empty ("a/") or "." (start of ".x"): completing it
  // with one ordinary character must give a valid key.
  if (!isValidKey(prefix + "x")) throw new InvalidKey(prefix);
}

/**
 * Checks a write's conditions: at most one of `ifMatch` and `ifNoneMatch`, an etag that is a
 * non-empty string without quotes, and `ifNoneMatch` only `"*"`. Throws `TypeError` otherwise
 * (a programming error, not a lost race).
 *
 * @example
 * ```ts
 * validateConditions({ ifMatch: "9f86d0…" }); // fine
 * validateConditions({ ifMatch: "a", ifNoneMatch: "*" }); // throws TypeError
 * ```
 */
export function validateConditions(conditions: PutConditions | undefined): void {
  if (conditions === undefined) return;
  const { ifMatch, ifNoneMatch } = conditions;
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    throw new TypeError("give at most one of ifMatch and ifNoneMatch");
  }
  if (ifNoneMatch !== undefined && ifNoneMatch !== "*") {
    throw new TypeError('ifNoneMatch must be "*"');
  }
  if (ifMatch !== undefined && (typeof ifMatch !== "string" || !/^[^"\s]+$/.test(ifMatch))) {
    throw new TypeError("ifMatch must be a bare etag (no quotes, no spaces)");
  }
}

/**
 * Checks `getRange` bounds (inclusive, like HTTP `Range: bytes=start-end`); throws `RangeError`.
 *
 * @example
 * ```ts
 * validateRange(0, 0); // the first byte
 * validateRange(5, 2); // throws RangeError
 * ```
 */
export function validateRange(start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid byte range ${start}-${end}`);
  }
}

/**
 * Returns the listing page size from `options` (default 1000); throws `RangeError` outside 1..1000.
 *
 * @example
 * ```ts
 * pageSizeOf({ pageSize: 50 }); // 50
 * pageSizeOf(undefined); // 1000
 * ```
 */
export function pageSizeOf(options: ListOptions | undefined): number {
  const size = options?.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(size) || size < 1 || size > DEFAULT_PAGE_SIZE) {
    throw new RangeError(`pageSize must be an integer from 1 to ${DEFAULT_PAGE_SIZE}, got ${size}`);
  }
  return size;
}

/**
 * Orders two strings by their UTF-8 bytes, the order S3 lists keys in. JavaScript's `<` compares
 * UTF-16 code units instead, which puts U+10000 and above before U+E000..U+FFFF.
 *
 * @example
 * ```ts
 * ["a\u{1F600}", "a\uE000"].sort(compareKeys); // ["a\uE000", "a\u{1F600}"]
 * ```
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Code point order equals UTF-8 byte order. UTF-16 units agree with it except for surrogates
    // (U+D800..U+DFFF, the halves of U+10000 and above): such a unit stands for a code point above
    // any non-surrogate unit. Two surrogates at the same index compare like their code points.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}
