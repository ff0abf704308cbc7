/**
 * The collision (issue 13) on the fs store; the case itself is in _collision.ts (ceph.test.ts
 * runs it on Ceph RGW).
 */

import { legacyEnv } from "./fixture.ts";
import { collisionCase } from "./_collision.ts";

Deno.test("collision: census says legacy (not 1 or 2), the engine rewrites nothing, the migration moves it in place", async () => {
  await using env = await legacyEnv();
  await collisionCase(env);
});
