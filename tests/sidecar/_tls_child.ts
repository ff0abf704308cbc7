/**
 * A sidecar in its own process, for tests that need process-wide settings (the root CA store
 * of NODE_EXTRA_CA_CERTS is read at start): `deno run -A _tls_child.ts SOCKET UPSTREAM SECRET`.
 * The policy names the Deno binary; prints "ready" once listening, stops on SIGTERM.
 */

import { parsePolicy, startSidecar } from "../../lib/sidecar/mod.ts";

const [socketPath, upstream, secret] = Deno.args;
const policy = parsePolicy(`
[[caller]]
uid = ${Deno.uid()}
exe = "${Deno.realPathSync(Deno.execPath())}"
services = ["tls"]

[service.tls]
upstream = "${upstream}"
inject = "bearer"
`);
const sidecar = await startSidecar({
  socketPath,
  policy: () => policy,
  credentials: { fetch: () => Promise.resolve(secret) },
  audit: () => {},
});
console.log("ready");
await new Promise<void>((resolve) => Deno.addSignalListener("SIGTERM", resolve));
await sidecar.close();
