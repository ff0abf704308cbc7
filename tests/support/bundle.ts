/**
 * The console's island bundle for tests: built (`scripts/build.ts --if-stale`) when missing or
 * stale, as `deno task test` does before the suite, so a single test file also runs on its own.
 *
 * @module
 */

import { ROOT } from "./service_process.ts";

export async function ensureBundle(): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/build.ts", "--if-stale"],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`the console bundle did not build:\n${new TextDecoder().decode(out.stderr)}`);
  }
}
