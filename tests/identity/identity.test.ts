import { createHash } from "node:crypto";
import { hexToBytes, keccak256, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { assert, assertEquals, assertNotEquals, assertThrows } from "../support/assert.ts";
import {
  agentActorOmni,
  deviceKeyHash,
  isOmni,
  isValidLabel,
  isValidName,
  normalizeAddress,
  omniToHex,
  operatorOmniOf,
  serviceHash,
} from "../../lib/identity/mod.ts";
import { InvalidIdentifierError } from "../../lib/identity/_errors.ts";
import { agentRegistryAbi } from "../../lib/chain/artifacts.ts";
import { registerAgent, startTestChain } from "../support/chain.ts";

// anvil's first development account: a public, well-known address.
const WALLET = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
// Known answers computed outside this code base (Python hashlib.sha256 over the §2 byte strings).
const WALLET_OMNI = "0x9c9b4adfaef672b67806e6d09d3f2d36ec62963f808ddcbe0a4e47b907ea3b5b";
const AGENT_VECTORS: [string, number, string][] = [
  ["mail-bot", 0, "0x396372be7a7a6248037f8c7f8587c15a1b85d425f6fce995f8613b91be4883fe"],
  ["a", 7, "0x0838ee2a96bb648592e9b4bf7bbe1503830b04d57975b0a687ed9ae648fe876c"],
  [
    "x".repeat(32),
    4294967295,
    "0x8ed1d47c4709afb66784816bd287c37af7e1cb4823698e682eab1ae0b9e9c27f",
  ],
];

function nodeSha256(...parts: (string | Uint8Array)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return "0x" + h.digest("hex");
}

Deno.test("operatorOmniOf: sha256('agentkeys' ‖ 'evm' ‖ lowercase 0x address), any input case", () => {
  assertEquals(operatorOmniOf(WALLET), WALLET_OMNI);
  assertEquals(operatorOmniOf(WALLET.toLowerCase()), WALLET_OMNI);
  assertEquals(operatorOmniOf(WALLET.toUpperCase().replace("0X", "0x")), WALLET_OMNI);
  for (let i = 0; i < 20; i++) {
    const address = privateKeyToAccount(toHex(crypto.getRandomValues(new Uint8Array(32))))
      .address;
    assertEquals(
      operatorOmniOf(address),
      nodeSha256("agentkeys", "evm", address.toLowerCase()),
    );
  }
  // Hashing the checksummed text instead would be a different omni: the case matters.
  assertNotEquals(nodeSha256("agentkeys", "evm", WALLET), WALLET_OMNI);
});

Deno.test("agentActorOmni: sha256('agentkeys-hdkd-v1' ‖ raw omni ‖ '//' ‖ label ‖ '/' ‖ gen)", () => {
  for (const [label, generation, expected] of AGENT_VECTORS) {
    assertEquals(agentActorOmni(WALLET_OMNI, label, generation), expected);
    assertEquals(
      agentActorOmni(WALLET_OMNI, label, generation),
      nodeSha256(
        "agentkeys-hdkd-v1",
        hexToBytes(WALLET_OMNI),
        "//",
        label,
        "/",
        String(generation),
      ),
    );
  }
  assertNotEquals(agentActorOmni(WALLET_OMNI, "bot", 0), agentActorOmni(WALLET_OMNI, "bot", 1));
});

Deno.test("agentActorOmni rejects bad labels, generations and omnis", () => {
  for (const label of ["", "Bot", "bot_1", "bot.x", "x".repeat(33), "bot/1", "bøt"]) {
    assertThrows(() => agentActorOmni(WALLET_OMNI, label, 0), InvalidIdentifierError, "label");
  }
  for (const generation of [-1, 1.5, 2 ** 32, NaN]) {
    assertThrows(() => agentActorOmni(WALLET_OMNI, "bot", generation), InvalidIdentifierError);
  }
  assertThrows(() => agentActorOmni(WALLET_OMNI.toUpperCase(), "bot", 0), InvalidIdentifierError);
  assertThrows(() => agentActorOmni("0x1234", "bot", 0), InvalidIdentifierError, "omni");
});

Deno.test("deviceKeyHash is keccak256 of the 20 address bytes, not of the text", () => {
  const bytes = hexToBytes(WALLET.toLowerCase() as `0x${string}`);
  assertEquals(bytes.length, 20);
  assertEquals(deviceKeyHash(WALLET), keccak256(bytes));
  assertEquals(deviceKeyHash(WALLET), deviceKeyHash(WALLET.toLowerCase()));
  assertNotEquals(deviceKeyHash(WALLET), keccak256(new TextEncoder().encode(WALLET.toLowerCase())));
  assertThrows(() => deviceKeyHash("0x1234"), InvalidIdentifierError);
});

Deno.test("serviceHash is keccak256(bytes(name)); published keccak vector", () => {
  // keccak256("abc"), the published Keccak-256 test vector.
  assertEquals(
    serviceHash("abc"),
    "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
  );
  assertEquals(
    serviceHash("api.openai-v1_x"),
    keccak256(new TextEncoder().encode("api.openai-v1_x")),
  );
  for (const bad of ["", "-x", ".x", "Openai", "a b", "x".repeat(65), "é", "a..b", "x.."]) {
    assertThrows(() => serviceHash(bad), InvalidIdentifierError, "service name");
    // Refused every time: a refusal is never memoized as an answer.
    assertThrows(() => serviceHash(bad), InvalidIdentifierError, "service name");
  }
  // The memo answers a repeated name with the same hash, and survives being filled past its bound.
  assertEquals(serviceHash("abc"), serviceHash("abc"));
  for (let i = 0; i < 5_000; i++) serviceHash(`svc-${i}`);
  assertEquals(serviceHash("svc-4999"), keccak256(new TextEncoder().encode("svc-4999")));
  assertEquals(
    serviceHash("abc"),
    "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
  );
});

Deno.test("validators follow the §2 patterns", () => {
  assert(
    isValidLabel("a") && isValidLabel("mail-bot-2") && isValidLabel("-") &&
      isValidLabel("x".repeat(32)),
  );
  assert(
    !isValidLabel("") && !isValidLabel("x".repeat(33)) && !isValidLabel("A") &&
      !isValidLabel("a\n"),
  );
  assert(isValidName("0") && isValidName("a._-") && isValidName("x".repeat(64)));
  assert(!isValidName("_a") && !isValidName("x".repeat(65)) && !isValidName("a/b"));
  assert(isValidName("notes.v1") && !isValidName("Notes") && !isValidName("a..b"));
  assert(
    isOmni(WALLET_OMNI) && !isOmni(WALLET_OMNI.toUpperCase()) && !isOmni(WALLET_OMNI.slice(2)),
  );
  assertEquals(omniToHex(WALLET_OMNI), WALLET_OMNI.slice(2));
  assertEquals(normalizeAddress(WALLET), WALLET.toLowerCase());
  assertThrows(
    () => normalizeAddress("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
    InvalidIdentifierError,
  );
});

Deno.test("the contracts compute the same omnis as lib/identity", async () => {
  await using chain = await startTestChain();
  for (let i = 0; i < 3; i++) {
    const op = await chain.newWallet();
    const onChain = await chain.publicClient.readContract({
      address: chain.addresses.AgentRegistry,
      abi: agentRegistryAbi,
      functionName: "operatorOmniOf",
      args: [op.address],
    });
    assertEquals(onChain, operatorOmniOf(op.address));
    assertEquals(op.omni, operatorOmniOf(op.address));
    // Labels and generations with every digit count the decimal encoder must handle.
    for (
      const [label, generation] of [["a", 0], ["mail-bot", 9], ["x-1", 10], [
        "z",
        4294967295,
      ]] as const
    ) {
      const agent = await registerAgent(chain, op, label, generation);
      assertEquals(agent.actorOmni, agentActorOmni(op.omni, label, generation));
    }
  }
  // The anvil dev account's on-chain omni equals the Python-computed known answer.
  const devOmni = await chain.publicClient.readContract({
    address: chain.addresses.AgentRegistry,
    abi: agentRegistryAbi,
    functionName: "operatorOmniOf",
    args: [WALLET],
  });
  assertEquals(devOmni, WALLET_OMNI);
});
