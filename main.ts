/**
 * `deno task start`: every role in one process on embedded defaults (fs store under the data
 * directory, local sealed keystore, Deno KV), or on the S3 store when AGENTKEYS_S3_* is set.
 *
 * @module
 */

import { ConfigError, loadConfig } from "./lib/config/mod.ts";
import { openService, VERSION } from "./lib/service/mod.ts";
import { createApp } from "./routes/app.ts";

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`agentkeys: ${err.message}`);
      return 2;
    }
    throw err;
  }
  let service;
  try {
    service = await openService(config);
  } catch (err) {
    console.error(`agentkeys: cannot start: ${(err as Error).message}`);
    return 1;
  }
  const app = createApp({
    worker: service.worker,
    broker: service.broker,
    chain: service.chain,
    epochs: { admin: service.admin, runner: service.runner },
    publicUrl: config.publicUrl,
    limits: config.limits,
    health: {
      version: VERSION,
      roles: ["broker", "signer", "worker"],
      store: service.store.kind,
      chainId: service.chain.client.chainId,
      activeEpoch: () => service.keystore.activeEpoch,
    },
  });
  const abort = new AbortController();
  const server = Deno.serve({
    hostname: config.host,
    port: config.port,
    signal: abort.signal,
    onListen: ({ port }) => {
      const url = config.port === 0
        ? config.publicUrl.replace(/:0$/, `:${port}`)
        : config.publicUrl;
      const chain = service.chain.embedded
        ? `embedded anvil at ${service.chain.rpcUrl}`
        : service.chain.rpcUrl;
      console.log(`AgentKeys ${VERSION} listening on ${url}`);
      console.log(`store: ${service.store.kind}, chain: ${chain}, data: ${config.dataDir}`);
      console.log(`health: ${url}/healthz`);
    },
  }, app.fetch);
  const stop = () => abort.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
  await service.close();
  return 0;
}

if (import.meta.main) Deno.exit(await main());
