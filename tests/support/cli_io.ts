/**
 * What `deno task cli` prints, kept as lines for tests: pass the result as the CLI's `io`, read
 * `out` and `err` (each line without its newline).
 *
 * @module
 */

import type { CliIO } from "../../lib/cli/_args.ts";

export function lineIO(): Required<CliIO> & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const into = (lines: string[]) => ({
    write(text: string) {
      lines.push(...text.replace(/\n$/, "").split("\n"));
      return Promise.resolve();
    },
  });
  return {
    out,
    err,
    stdout: into(out),
    stderr: into(err),
    stdin: () => Promise.resolve(new Uint8Array()),
  };
}
