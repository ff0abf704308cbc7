/**
 * `deno task sidecar exec -- CMD ARGS…` (ARCHITECTURE §11): runs CMD with the sidecar's env file
 * added to its environment — placeholders, never secrets — with stdio inherited, SIGINT, SIGTERM
 * and SIGHUP forwarded, and CMD's exit code as ours (128 + signal when a signal ended it).
 *
 * @module
 */

const FORWARDED: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
};

/**
 * ```ts
 * const code = await execWithEnv(["python3", "agent.py"], await readEnvFile(envPath));
 * ```
 */
export async function execWithEnv(
  argv: string[],
  vars: Record<string, string>,
): Promise<number> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: vars,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const forwarders = FORWARDED.map((signal) => {
    const handler = () => {
      try {
        child.kill(signal);
      } catch {
        // Already gone.
      }
    };
    Deno.addSignalListener(signal, handler);
    return () => Deno.removeSignalListener(signal, handler);
  });
  try {
    const status = await child.status;
    if (status.signal) return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
    return status.code;
  } finally {
    for (const remove of forwarders) remove();
  }
}
