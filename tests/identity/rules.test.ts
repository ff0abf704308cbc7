// The identity rules every component now takes from lib/identity: valid/invalid tables for the
// omni's two spellings, the one name rule and labels, and the components that must agree with them.
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import {
  isOmni,
  isOmniHex,
  isValidLabel,
  isValidName,
  omniFromHex,
  omniToHex,
  serviceHash,
} from "../../lib/identity/mod.ts";
import { InvalidIdentifierError } from "../../lib/identity/_errors.ts";
import { validateCapClaims } from "../../lib/cap/_claims.ts";
import {
  actorHexOf,
  checkName,
  inboundLocation,
  memoryLocation,
  parseBlobKey,
} from "../../lib/worker/mod.ts";
import { InvalidName } from "../../lib/worker/_layout.ts";

const HEX = "0123456789abcdef".repeat(4);
const OMNI = `0x${HEX}`;

const OMNIS_VALID = [OMNI, `0x${"0".repeat(64)}`, `0x${"f".repeat(64)}`];
const OMNIS_INVALID: unknown[] = [
  HEX, // the object-key form is not the wire form
  OMNI.toUpperCase(),
  `0X${HEX}`,
  `0x${HEX.toUpperCase()}`,
  `0x${HEX.slice(1)}`, // 63 hex
  `${OMNI}0`, // 65 hex
  `0x${HEX.slice(1)}g`,
  ` ${OMNI}`,
  `${OMNI}\n`,
  "",
  "0x",
  undefined,
  null,
  42,
];

const NAMES_VALID = [
  "0",
  "a",
  "openai",
  "api.openai-v1_x",
  "a.b",
  "a._-",
  "notes.v1",
  "x".repeat(64),
  "a-",
  "1.2.3",
];
const NAMES_INVALID: unknown[] = [
  "",
  "..",
  "a..b",
  "x..",
  "a...b",
  ".x",
  "-x",
  "_x",
  "Openai",
  "a b",
  "a/b",
  "../etc",
  "a\\b",
  "x".repeat(65),
  "é",
  "a\n",
  "a\0",
  undefined,
  7,
];

Deno.test("isOmni: 0x + 64 lowercase hex, nothing else", () => {
  for (const v of OMNIS_VALID) assert(isOmni(v), `valid: ${v}`);
  for (const v of OMNIS_INVALID) assert(!isOmni(v), `invalid: ${JSON.stringify(v)}`);
});

Deno.test("isOmniHex: 64 lowercase hex without 0x, nothing else", () => {
  for (const v of OMNIS_VALID) assert(isOmniHex(v.slice(2)), `valid: ${v}`);
  for (const v of [OMNI, HEX.toUpperCase(), HEX.slice(1), `${HEX}0`, "", undefined, 1]) {
    assert(!isOmniHex(v), `invalid: ${JSON.stringify(v)}`);
  }
});

Deno.test("omniToHex and omniFromHex are inverse and refuse the other spelling", () => {
  for (const v of OMNIS_VALID) {
    assertEquals(omniToHex(v), v.slice(2));
    assertEquals(omniFromHex(omniToHex(v)), v);
  }
  for (const v of OMNIS_INVALID.filter((v) => typeof v === "string")) {
    assertThrows(() => omniToHex(v as string), InvalidIdentifierError, "omni");
  }
  for (const v of [OMNI, HEX.toUpperCase(), HEX.slice(1), ""]) {
    assertThrows(() => omniFromHex(v), InvalidIdentifierError, "omni hex");
  }
  // Callers that threw TypeError for a malformed omni still can catch it as one.
  assertThrows(() => omniToHex("0x12"), TypeError);
});

Deno.test("isValidName: one rule for service names, namespaces, memory names, message ids", () => {
  for (const v of NAMES_VALID) assert(isValidName(v), `valid: ${v}`);
  for (const v of NAMES_INVALID) assert(!isValidName(v), `invalid: ${JSON.stringify(v)}`);
});

Deno.test("isValidLabel: ^[a-z0-9-]{1,32}$", () => {
  for (const v of ["a", "-", "mail-bot-2", "x".repeat(32), "0"]) assert(isValidLabel(v), v);
  for (const v of ["", "x".repeat(33), "A", "a.b", "a_b", "a\n", "a b"]) {
    assert(!isValidLabel(v), JSON.stringify(v));
  }
});

Deno.test("serviceHash refuses exactly what isValidName refuses ('..' included)", () => {
  for (const v of NAMES_VALID) serviceHash(v);
  for (const v of NAMES_INVALID.filter((v) => typeof v === "string")) {
    assertThrows(() => serviceHash(v as string), InvalidIdentifierError, "service name");
  }
});

Deno.test("the worker's layout follows the one name rule for every part of a key", () => {
  const actor = omniToHex(OMNI);
  for (const v of NAMES_VALID) {
    assertEquals(checkName("name", v), v);
    assertEquals(memoryLocation(actor, v, v).objectName, `${v}/${v}`);
    assertEquals(inboundLocation(actor, v).objectName, v);
  }
  for (const v of NAMES_INVALID) {
    assertThrows(() => checkName("name", v), InvalidName, "name must match");
    if (typeof v !== "string") continue;
    assertThrows(() => memoryLocation(actor, "notes", v), InvalidName, "name");
    assertThrows(() => memoryLocation(actor, v, "n"), InvalidName, "namespace");
    assertThrows(() => inboundLocation(actor, v), InvalidName, "message id");
  }
  // A listed key with a '..' name is not a blob key, so re-encryption reports it.
  assertEquals(parseBlobKey(`bots/${actor}/memory/notes/a..b.enc`), undefined);
  assertEquals(parseBlobKey(`bots/${actor}/inbound/a..b.enc`), undefined);
  assertEquals(parseBlobKey(`bots/${actor}/memory/notes/ok.enc`)?.objectName, "notes/ok");
});

Deno.test("actorHexOf takes the wire form only and refuses as InvalidName", () => {
  assertEquals(actorHexOf(OMNI), HEX);
  for (const v of OMNIS_INVALID.filter((v) => typeof v === "string")) {
    assertThrows(() => actorHexOf(v as string), InvalidName, "actor omni");
  }
});

Deno.test("cap claims use the same omni and name rules", () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    op: "fetch",
    data_class: "credentials",
    service: "openai",
    operator_omni: OMNI,
    actor_omni: OMNI,
    device_key_hash: OMNI,
    read_only: false,
    minted_by: "operator",
    k3_epoch: 1,
    sid: "a".repeat(32),
    iat: now,
    exp: now + 60,
    jti: "b".repeat(32),
  };
  assertEquals(validateCapClaims(claims).service, "openai");
  for (const v of NAMES_INVALID) {
    assertThrows(() => validateCapClaims({ ...claims, service: v }), Error, "service");
  }
  for (const v of OMNIS_INVALID) {
    for (const field of ["operator_omni", "actor_omni", "device_key_hash"]) {
      assertThrows(() => validateCapClaims({ ...claims, [field]: v }), Error, field);
    }
  }
});
