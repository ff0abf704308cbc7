/** `GET /openapi.json` lists exactly routes that exist. */

import { assert, assertEquals } from "../support/assert.ts";
import { ROUTES } from "../../routes/openapi.ts";
import { testService } from "../support/broker_harness.ts";

Deno.test("every route in the OpenAPI document is mounted (none answers the JSON 404 of unknown routes)", async () => {
  await using s = await testService({ epochs: true });
  const doc = (await s.call("GET", "/openapi.json")).body as {
    openapi: string;
    paths: Record<string, unknown>;
  };
  assertEquals(doc.openapi, "3.1.0");
  assertEquals(Object.keys(doc.paths).length, new Set(ROUTES.map(([, p]) => p)).size);
  // The in-process harness has no chain; tests/cli/e2e.test.ts uses those two on a real one.
  const needsChain = new Set(["/v1/chain", "/v1/chain/rpc", "/v1/dev/faucet"]);
  for (const [method, path] of ROUTES.filter(([, p]) => !needsChain.has(p))) {
    const concrete = path.replace("{n}", "1").replace("{id}", "0".repeat(32));
    const res = await s.app.request(concrete, { method: method.toUpperCase() });
    const body = res.headers.get("content-type")?.includes("json")
      ? await res.json()
      : await res.text();
    const unknownRoute = res.status === 404 && typeof body === "object" &&
      String(body.message ?? "").startsWith("no route");
    assert(!unknownRoute, `${method} ${path} is not mounted`);
  }
});
