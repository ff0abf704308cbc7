/**
 * What every command line here shares: one parser (`node:util`'s `parseArgs`, strict: an unknown
 * flag or a missing value is a usage error), one {@linkcode UsageError}, one exit-code table and
 * one text output. `--help` and `-h` are understood by every command and subcommand.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** Exit codes of every command (`deno task cli`, `deno task reencrypt`, `deno task signer`). */
export const EXIT = {
  /** Done (for a re-encryption: every blob is where it should be, or would be for a dry run). */
  ok: 0,
  /** Refused or failed (some blobs failed, another job runs, a chain record is missing). */
  failed: 1,
  /** Bad flags or parameters; a usage message was printed. */
  usage: 2,
  /** Store credentials or the session expired: log in again (or re-run) to continue. */
  expired: 75,
  /** Cancelled (Ctrl-C, or a cancel from the console). */
  cancelled: 130,
} as const;

/** A flag or argument problem: printed with the usage text, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The flags a command accepts, in `parseArgs`' shape (`help`/`-h` is added to every set). */
export type FlagSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean }
>;

/** What {@linkcode parseFlags} found. */
export interface ParsedFlags {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  /**
   * `--help` or `-h` was given: print the usage and exit 0, whatever else is there. The other
   * flags are then not parsed, and `positionals` holds every word not starting with `-` (the
   * command and subcommand come first, so that names whose usage to print).
   */
  help: boolean;
}

/**
 * Parses `args` strictly against `flags`; throws {@linkcode UsageError} for an unknown flag, a
 * string flag without a value, or positionals where `positionals` is false.
 *
 * ```ts
 * const { values, help } = parseFlags(["--epoch", "3"], { epoch: { type: "string" } });
 * values.epoch; // "3"
 * ```
 */
export function parseFlags(
  args: string[],
  flags: FlagSpec,
  options: { positionals?: boolean } = {},
): ParsedFlags {
  // Asked for help: answer it even when the rest of the line is wrong.
  if (args.some((a) => a === "--help" || a === "-h")) {
    return { values: {}, positionals: args.filter((a) => !a.startsWith("-")), help: true };
  }
  try {
    const parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: options.positionals ?? false,
      options: { ...flags, help: { type: "boolean", short: "h" } },
    });
    return {
      values: parsed.values as ParsedFlags["values"],
      positionals: parsed.positionals,
      help: false,
    };
  } catch (err) {
    throw new UsageError(usageText((err as Error).message));
  }
}

/** `parseArgs`' messages, in the words the usage text uses. */
function usageText(message: string): string {
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown flag ${unknown[1]}`;
  const missing = /^Option '(-\S+)(?:, (-\S+))? <value>' argument missing/.exec(message);
  if (missing) return `${missing[2] ?? missing[1]} needs a value`;
  const extra = /^Unexpected argument '([^']*)'/.exec(message);
  if (extra) return `unexpected argument ${extra[1]}`;
  return message;
}

/** Where text output goes. */
export interface TextOut {
  write(text: string): Promise<void>;
}

/** A {@linkcode TextOut} over a Deno writer (stdout, stderr), writing every byte. */
export function textOut(stream: { write(p: Uint8Array): Promise<number> }): TextOut {
  const encoder = new TextEncoder();
  return {
    async write(text: string) {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += await stream.write(bytes.subarray(written));
    },
  };
}

/** Where the CLI reads and writes; defaults: the process's stdout, stderr and stdin. */
export interface CliIO {
  stdout?: TextOut;
  stderr?: TextOut;
  /** Standard input, for `cred put` without --value. */
  stdin?(): Promise<Uint8Array>;
}
