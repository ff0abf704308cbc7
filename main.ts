/**
 * `deno task start`: every role in one process on embedded defaults (fs store under the data
 * directory, local sealed keystore, Deno KV), or on the S3 store when AGENTKEYS_S3_* is set.
 *
 * @module
 */

import { ConfigError, loadConfig, loadLegacySource, withBoundPort } from "./lib/config/mod.ts";
import { MigrationJobs, openLegacySource } from "./lib/migrate/mod.ts";
import { adminClaimNotice, openService, VERSION } from "./lib/service/mod.ts";
import { createApp } from "./routes/app.ts";
import type { BlobStore } from "./lib/store/mod.ts";
import type { VaultWorker } from "./lib/worker/mod.ts";
import type { IdentityReader } from "./lib/identity/mod.ts";
import type { AuditLog } from "./lib/state/mod.ts";
import { metricsOnlyApp } from "./routes/metrics.ts";
import { forwardSecrecyWindow } from "./lib/lifecycle/mod.ts";

/** `migrate-legacy` over HTTP: the service's worker and chain, the configured legacy source. */
async function migrationJobs(
  service: {
    store: BlobStore;
    worker: VaultWorker;
    chain: { client: IdentityReader };
    audit: AuditLog;
  },
): Promise<MigrationJobs> {
  const source = await openLegacySource(loadLegacySource(Deno.env.toObject()));
  return new MigrationJobs((signer) => ({
    source: source ?? service.store,
    target: service.store,
    worker: service.worker,
    signer,
    identity: service.chain.client,
    audit: service.audit,
    warn: (message) => console.warn(message),
  }));
}

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
  // Bind first: with AGENTKEYS_PORT=0 the port is known only now, and the OIDC issuer, the SIWE
  // domain and URI, the Host check and `rpc_url` must all carry it. Until the service is built,
  // requests get 503 `starting`.
  let handler: Deno.ServeHandler<Deno.NetAddr> = () =>
    Response.json(
      { error: "starting", message: "the service is starting; retry in a moment" },
      { status: 503, headers: { "retry-after": "1" } },
    );
  const abort = new AbortController();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: config.host,
      port: config.port,
      signal: abort.signal,
      onListen: () => {}, // the URL is printed once the service answers
    }, (req, info) => handler(req, info));
  } catch (err) {
    console.error(`agentkeys: cannot listen on ${config.host}:${config.port}: ${err}`);
    return 1;
  }
  config = withBoundPort(config, server.addr.port);
  // Listening for signals before the (slow) start: a SIGTERM meanwhile would otherwise kill the
  // process with its embedded anvil still running, orphaned.
  let stopping = false;
  const stop = () => {
    stopping = true;
    abort.abort();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  let service;
  try {
    service = await openService(config);
  } catch (err) {
    console.error(`agentkeys: cannot start: ${(err as Error).message}`);
    abort.abort();
    await server.finished;
    return 1;
  }
  if (stopping) {
    await server.finished;
    await service.close();
    return 0;
  }
  const app = createApp({
    worker: service.worker,
    broker: service.broker,
    chain: service.chain,
    epochs: { admin: service.admin, runner: service.runner },
    purger: service.purger,
    // migrate-legacy jobs (issue 13) read the configured legacy bucket, else the vault itself.
    migrations: await migrationJobs(service),
    lister: service.lister,
    agentEvents: service.chain.client,
    audit: service.audit,
    publicUrl: config.publicUrl,
    port: config.port,
    limits: config.limits,
    guards: config.guards,
    health: {
      version: VERSION,
      roles: ["broker", "signer", "worker"],
      store: service.store.kind,
      chainId: service.chain.client.chainId,
      activeEpoch: () => service.keystore.activeEpoch,
      window: () =>
        forwardSecrecyWindow(service.keystore.list(), Date.now(), service.config.lifecycle),
      integrity: () => service.anchors.status(),
    },
    proofs: service.proofs,
    metrics: service.metrics,
    lifecycle: service.lifecycle,
  });
  // Scrapers' own listener (AGENTKEYS_METRICS_LISTEN): /metrics only, without a session.
  let scrapeServer: Deno.HttpServer<Deno.NetAddr> | undefined;
  if (config.metricsListen) {
    const scrape = metricsOnlyApp(service.metrics, config.metricsListen);
    try {
      scrapeServer = Deno.serve({
        ...config.metricsListen,
        signal: abort.signal,
        onListen: (addr) =>
          console.log(`metrics for scrapers: http://${addr.hostname}:${addr.port}/metrics`),
      }, (req) => scrape.fetch(req));
    } catch (err) {
      console.error(
        `agentkeys: cannot listen for metrics on ${config.metricsListen.hostname}:${config.metricsListen.port}: ${err}`,
      );
      abort.abort();
      await server.finished;
      await service.close();
      return 1;
    }
  }
  handler = (req, info) => app.fetch(req, info);
  {
    const url = config.publicUrl;
    // anvil's own port stays out of the output: clients use the allow-listing proxy.
    const chain = service.chain.embedded
      ? `embedded anvil (JSON-RPC for clients: ${url}/v1/chain/rpc)`
      : service.chain.rpcUrl;
    console.log(`AgentKeys ${VERSION} listening on ${url}`);
    console.log(`store: ${service.store.kind}, chain: ${chain}, data: ${config.dataDir}`);
    console.log(`health: ${url}/healthz`);
    for (const { level, text } of adminClaimNotice(service.adminClaim, url)) console[level](text);
  }
  await server.finished;
  await scrapeServer?.finished;
  await service.close();
  return 0;
}

if (import.meta.main) Deno.exit(await main());
