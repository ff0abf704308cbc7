import { assertEquals, assertMatch, assertThrows } from "../support/assert.ts";
import {
  ConfigError,
  insecureServiceUrl,
  loadCliConfig,
  loadConfig,
  SETTINGS,
} from "../../lib/config/mod.ts";
import { settingsTable } from "../../scripts/settings-table.ts";

Deno.test("embedded defaults", () => {
  const c = loadConfig({});
  assertEquals([c.dataDir, c.host, c.port, c.publicUrl], [
    "./data",
    "127.0.0.1",
    8787,
    "http://127.0.0.1:8787",
  ]);
  assertEquals([c.s3, c.sealKey, c.admins], [undefined, undefined, []]);
  assertEquals(c.limits, {
    credentials: 65536,
    memory: 1048576,
    inbound: 1048576,
    keyring: 1048576,
  });
});

Deno.test("S3 settings switch the store", () => {
  const c = loadConfig({
    AGENTKEYS_S3_ENDPOINT: "http://127.0.0.1:7480",
    AWS_ACCESS_KEY_ID: "AK",
    AWS_SECRET_ACCESS_KEY: "SK",
  });
  assertEquals(c.s3, {
    endpoint: "http://127.0.0.1:7480",
    bucket: "agentkeys-vault",
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "AK", secretAccessKey: "SK", sessionToken: undefined },
  });
});

Deno.test("bad values are ConfigErrors naming the variable", () => {
  const cases: Record<string, string>[] = [
    { AGENTKEYS_PORT: "80a" },
    { AGENTKEYS_PORT: "70000" },
    { AGENTKEYS_SEAL_KEY: "abc" },
    { AGENTKEYS_ADMINS: "0x12" },
    { AGENTKEYS_S3_ENDPOINT: "ftp://x" },
    { AGENTKEYS_S3_BUCKET: "b", AWS_ACCESS_KEY_ID: "only-one" },
    { AGENTKEYS_PUBLIC_URL: "http://x/path" },
    { AGENTKEYS_MAX_CREDENTIAL_BYTES: "0" },
  ];
  for (const env of cases) {
    const name = Object.keys(env).find((k) => k.startsWith("AGENTKEYS")) ?? "";
    assertThrows(
      () => loadConfig(env),
      ConfigError,
      name.startsWith("AGENTKEYS_S3_BUCKET") ? "AWS" : name,
    );
  }
});

Deno.test("the README's settings table is the one generated from SETTINGS", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  if (!readme.includes(settingsTable())) {
    throw new Error("README settings table is stale: deno run scripts/settings-table.ts");
  }
  for (const s of SETTINGS) {
    if (!readme.includes(`\`${s.name}\``)) throw new Error(`README does not document ${s.name}`);
  }
});

Deno.test("CLI settings: defaults, and a bad AGENTKEYS_URL is a ConfigError", () => {
  assertEquals(loadCliConfig({ HOME: "/home/op" }), {
    url: "http://127.0.0.1:8787",
    home: "/home/op/.config/agentkeys",
    operatorKey: undefined,
    session: undefined,
    runtimeDir: undefined,
    userHome: "/home/op",
    allowHttp: false,
  });
  assertEquals(
    loadCliConfig({ AGENTKEYS_URL: "https://h:1/", AGENTKEYS_CLI_HOME: "/x" }).url,
    "https://h:1",
  );
  // The reencrypt CLI's --url session comes from here too (only lib/config reads the environment).
  assertEquals(loadCliConfig({ AGENTKEYS_SESSION: " eyJ.x.y " }).session, "eyJ.x.y");
  assertEquals(loadCliConfig({ AGENTKEYS_SESSION: "  " }).session, undefined);
  assertThrows(() => loadCliConfig({ AGENTKEYS_URL: "ftp://h" }), ConfigError, "AGENTKEYS_URL");
});

Deno.test("CLI settings: plain http only to loopback unless AGENTKEYS_ALLOW_HTTP=true (fifth review: keys in clear)", () => {
  for (
    const url of [
      "http://127.0.0.1:8787",
      "http://127.9.9.9",
      "http://localhost:1",
      "http://[::1]:8787",
      "https://vault.example",
    ]
  ) {
    assertEquals(insecureServiceUrl(url, false), null, url);
  }
  for (
    const url of [
      "http://vault.lan:8787",
      "http://10.0.0.5",
      "http://[fd00::1]",
      "http://127.0.0.1.evil.example",
    ]
  ) {
    assertMatch(insecureServiceUrl(url, false) ?? "", /in clear/, url);
    assertEquals(insecureServiceUrl(url, true), null, url);
  }
  assertMatch(insecureServiceUrl("ftp://h", true) ?? "", /http\(s\)/);
  assertThrows(
    () => loadCliConfig({ AGENTKEYS_URL: "http://vault.lan:8787" }),
    ConfigError,
    "AGENTKEYS_ALLOW_HTTP",
  );
  assertEquals(
    loadCliConfig({ AGENTKEYS_URL: "http://vault.lan:8787", AGENTKEYS_ALLOW_HTTP: "true" }).url,
    "http://vault.lan:8787",
  );
  assertThrows(() => loadCliConfig({ AGENTKEYS_ALLOW_HTTP: "yes please" }), ConfigError);
});

Deno.test("AGENTKEYS_OIDC_AUDIENCES: default sts.amazonaws.com; a comma list; empty or spaced entries are ConfigErrors", () => {
  assertEquals(loadConfig({}).oidcAudiences, ["sts.amazonaws.com"]);
  assertEquals(
    loadConfig({ AGENTKEYS_OIDC_AUDIENCES: " agentkeys-rgw, sts.amazonaws.com ,agentkeys-rgw" })
      .oidcAudiences,
    ["agentkeys-rgw", "sts.amazonaws.com"],
  );
  for (const bad of [",", "a b", "x".repeat(257)]) {
    assertThrows(
      () => loadConfig({ AGENTKEYS_OIDC_AUDIENCES: bad }),
      ConfigError,
      "AGENTKEYS_OIDC_AUDIENCES",
    );
  }
});

Deno.test("rate limits and caps: documented defaults, count/unit syntax, bad values are ConfigErrors", () => {
  const g = loadConfig({}).guards;
  assertEquals(g, {
    loginRate: { capacity: 60, periodMs: 60_000 },
    faucetRate: { capacity: 10, periodMs: 60_000 },
    rpcRate: { capacity: 600, periodMs: 60_000 },
    mintRate: { capacity: 100_000, periodMs: 60_000 },
    maxPendingLogins: 10_000,
    maxStreamsPerSession: 4,
  });
  const set = loadConfig({
    AGENTKEYS_RATE_LOGIN: "5/s",
    AGENTKEYS_RATE_FAUCET: "3/h",
    AGENTKEYS_RATE_RPC: "50/s",
    AGENTKEYS_RATE_MINT: "20/min",
    AGENTKEYS_MAX_PENDING_LOGINS: "7",
    AGENTKEYS_MAX_STREAMS_PER_SESSION: "1",
  }).guards;
  assertEquals(set, {
    loginRate: { capacity: 5, periodMs: 1_000 },
    faucetRate: { capacity: 3, periodMs: 3_600_000 },
    rpcRate: { capacity: 50, periodMs: 1_000 },
    mintRate: { capacity: 20, periodMs: 60_000 },
    maxPendingLogins: 7,
    maxStreamsPerSession: 1,
  });
  for (
    const name of [
      "AGENTKEYS_RATE_LOGIN",
      "AGENTKEYS_RATE_FAUCET",
      "AGENTKEYS_RATE_RPC",
      "AGENTKEYS_RATE_MINT",
    ]
  ) {
    for (const bad of ["30", "0/min", "30/day", "-1/s", "x/min"]) {
      assertThrows(() => loadConfig({ [name]: bad }), ConfigError, name);
    }
  }
  for (const name of ["AGENTKEYS_MAX_PENDING_LOGINS", "AGENTKEYS_MAX_STREAMS_PER_SESSION"]) {
    for (const bad of ["0", "-3", "many", "1.5"]) {
      assertThrows(() => loadConfig({ [name]: bad }), ConfigError, name);
    }
  }
});

Deno.test("lifecycle settings: documented defaults, durations through ms, off, refusals", () => {
  const c = loadConfig({});
  assertEquals(c.lifecycle, {
    rotateEveryMs: 7 * 86400_000,
    rotateOnRevoke: true,
    rotateCoalesceMs: 600_000,
    rotateRevokeGapMs: 3600_000,
    reencryptAfterMs: 3600_000,
    destroyAfterMs: 86400_000,
    ttlMemoryMs: null,
    ttlInboundMs: null,
  });
  assertEquals(c.metricsListen, undefined);
  const d = loadConfig({
    AGENTKEYS_ROTATE_EVERY: "off",
    AGENTKEYS_ROTATE_ON_REVOKE: "false",
    AGENTKEYS_REENCRYPT_AFTER: "10s",
    AGENTKEYS_DESTROY_AFTER: "1.5h",
    AGENTKEYS_TTL_MEMORY: "30d",
    AGENTKEYS_TTL_INBOUND: "2w",
    AGENTKEYS_METRICS_LISTEN: "127.0.0.1:9464",
  });
  assertEquals(d.lifecycle.rotateEveryMs, null);
  assertEquals(d.lifecycle.rotateOnRevoke, false);
  assertEquals(d.lifecycle.reencryptAfterMs, 10_000);
  assertEquals(d.lifecycle.destroyAfterMs, 5400_000);
  assertEquals(d.lifecycle.ttlMemoryMs, 30 * 86400_000);
  assertEquals(d.lifecycle.ttlInboundMs, 14 * 86400_000);
  assertEquals(d.metricsListen, { hostname: "127.0.0.1", port: 9464 });
  for (const bad of ["10", "0s", "-1h", "soon", "off10m", "1y", "99999w"]) {
    assertThrows(() => loadConfig({ AGENTKEYS_REENCRYPT_AFTER: bad }), ConfigError);
  }
  // `off` only where the setting allows it.
  assertThrows(() => loadConfig({ AGENTKEYS_DESTROY_AFTER: "off" }), ConfigError);
  assertThrows(() => loadConfig({ AGENTKEYS_METRICS_LISTEN: "9464" }), ConfigError);
});
