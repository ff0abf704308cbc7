/**
 * `deno task cli sts-policy` (issue 13): the role agents assume with their OIDC token, keyed on
 * the `agentkeys_actor_omni` tag — one statement per actor for Ceph RGW 16 (no tag variable in
 * `Resource`), one tag-variable statement for AWS.
 */

import { assert, assertEquals } from "../support/assert.ts";
import { stsPolicies } from "../../lib/cli/_sts_policy.ts";
import { main } from "../../lib/cli/mod.ts";
import { lineIO } from "../support/cli_io.ts";

const A = "aa".repeat(32);
const B = "bb".repeat(32);
const base = { bucket: "vault", provider: "keys.example.com:8787", audience: "sts.amazonaws.com" };

Deno.test("sts-policy rgw: one statement per actor, each conditioned on its own tag; no tag variable", () => {
  const { trust, role } = stsPolicies({ ...base, target: "rgw", actors: [A, B] }) as {
    trust: { Statement: { Action: string[]; Condition: unknown; Principal: unknown }[] };
    role: { Statement: { Resource: string[]; Condition: unknown; Action: string[] }[] };
  };
  assertEquals(role.Statement.length, 2);
  assertEquals(role.Statement[0].Resource, [`arn:aws:s3:::vault/bots/${A}/*`]);
  assertEquals(role.Statement[0].Condition, {
    StringEquals: { "aws:PrincipalTag/agentkeys_actor_omni": A },
  });
  assertEquals(role.Statement[1].Resource, [`arn:aws:s3:::vault/bots/${B}/*`]);
  assert(!JSON.stringify(role).includes("${"), "RGW 16 refuses policy variables in Resource");
  assert(!JSON.stringify(role).includes("agentkeys_user_wallet"));
  assertEquals(trust.Statement[0].Action, ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]);
  assertEquals(trust.Statement[0].Condition, {
    StringEquals: { "keys.example.com:8787:aud": "sts.amazonaws.com" },
  });
  const ro = stsPolicies({ ...base, target: "rgw", actors: [A], readOnly: true }) as {
    role: { Statement: { Action: string[] }[] };
  };
  assertEquals(ro.role.Statement[0].Action, ["s3:GetObject"]);
  let threw = false;
  try {
    stsPolicies({ ...base, target: "rgw", actors: ["0x" + A] });
  } catch {
    threw = true;
  }
  assert(threw, "an omni with 0x is not an object-key actor");
});

Deno.test("sts-policy aws: one statement with the tag variable in Resource and the list prefix", () => {
  const { role } = stsPolicies({ ...base, target: "aws", actors: [] }) as {
    role: { Statement: { Resource: string[]; Condition?: unknown }[] };
  };
  assertEquals(role.Statement[0].Resource, [
    "arn:aws:s3:::vault/bots/${aws:PrincipalTag/agentkeys_actor_omni}/*",
  ]);
  assertEquals(role.Statement[1].Condition, {
    StringLike: { "s3:prefix": ["bots/${aws:PrincipalTag/agentkeys_actor_omni}/*"] },
  });
});

Deno.test("deno task cli sts-policy --target aws prints JSON without a session; a bad target is 2", async () => {
  const io = lineIO();
  const env = { url: "https://keys.example.com", home: "/nonexistent" };
  assertEquals(await main(["sts-policy", "--target", "aws", "--bucket", "b"], env, io), 0);
  const printed = JSON.parse(io.out.join("\n"));
  assertEquals(printed.trust.Statement[0].Condition, {
    StringEquals: { "keys.example.com:aud": "sts.amazonaws.com" },
  });
  assertEquals(printed.role.Statement[0].Resource[0].startsWith("arn:aws:s3:::b/bots/"), true);
  const bad = lineIO();
  assertEquals(await main(["sts-policy", "--target", "gcs"], env, bad), 2);
});
