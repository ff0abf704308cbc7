/**
 * The "done when" of issue 12 at a fast pace: `deno task start` (real anvil, real data
 * directory) with seconds-long lifecycle settings rotates, re-encrypts and destroys by itself,
 * and `/metrics` (on the scrapers' listener) and `/healthz` show the steps and the window.
 *
 * @module
 */

// @ts-types="../metrics/_parse.d.ts"
import parsePrometheus from "parse-prometheus-text-format";
import { assert, assertEquals } from "../support/assert.ts";
import { freePort, startServiceProcess } from "../support/service_process.ts";
import { tempDir } from "../support/tmp.ts";

interface Family {
  name: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}

Deno.test("a running service rotates, re-encrypts and destroys by itself; /metrics shows it", async () => {
  await using tmp = await tempDir("agentkeys-lifecycle-service-");
  const metricsPort = freePort();
  await using service = await startServiceProcess({
    AGENTKEYS_DATA_DIR: `${tmp.path}/data`,
    AGENTKEYS_ROTATE_EVERY: "5s",
    AGENTKEYS_REENCRYPT_AFTER: "1s",
    AGENTKEYS_DESTROY_AFTER: "3s",
    AGENTKEYS_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
    AGENTKEYS_ADMINS: "0x" + "11".repeat(20),
  });
  const scrape = async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return new Map((parsePrometheus(text) as Family[]).map((f) => [f.name, f]));
  };
  const steps = (families: Map<string, Family>, step: string) =>
    Number(
      families.get("agentkeys_lifecycle_steps_total")?.metrics
        .find((m) => m.labels?.step === step && m.labels?.outcome === "done")?.value ?? 0,
    );
  let families = await scrape();
  const until = Date.now() + 90_000;
  while (steps(families, "destroy") < 1 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 500));
    families = await scrape();
  }
  assert(steps(families, "destroy") >= 1, "no destruction within 90 s:\n" + service.output());
  assert(steps(families, "rotate") >= 1 && steps(families, "reencrypt") >= 1);
  const window = Number(families.get("agentkeys_forward_secrecy_window_seconds")!.metrics[0].value);
  assertEquals(families.get("agentkeys_forward_secrecy_bound_seconds")!.metrics[0].value, "8");
  assert(window >= 0 && window < 60, `window ${window}`);
  const health = await (await fetch(`${service.url}/healthz`)).json();
  assertEquals(health.forward_secrecy_bound_seconds, 8);
  assert(health.k3_epoch >= 2);
  // The main port's /metrics wants an admin session.
  assertEquals((await fetch(`${service.url}/metrics`)).status, 401);
  assertEquals((await service.stop()).code, 0);
});

Deno.test("AGENTKEYS_METRICS_LISTEN on a port in use: the service says so and exits 1", async () => {
  await using tmp = await tempDir("agentkeys-lifecycle-service-");
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts"],
      cwd: new URL("../../", import.meta.url).pathname,
      env: {
        AGENTKEYS_DATA_DIR: `${tmp.path}/data`,
        AGENTKEYS_PORT: "0",
        AGENTKEYS_METRICS_LISTEN: `127.0.0.1:${(busy.addr as Deno.NetAddr).port}`,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 1);
    const err = new TextDecoder().decode(out.stderr);
    assert(err.includes("cannot listen for metrics"), err);
  } finally {
    busy.close();
  }
});
