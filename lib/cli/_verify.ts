/**
 * `deno task cli cred verify <service> [--agent L] [--store-dir DIR]` (and `inbox verify <id>`):
 * fetches the blob's proof (`GET /v1/cred/proof`, `/v1/inbound/proof`), recomputes the Merkle root from the pointer and its path with
 * the hashing of docs/INTEGRITY.md, and compares it with the root anchored in VaultAnchor, read
 * with viem through the chain proxy the service publishes (or the external chain's RPC). With
 * direct read access to the blob store (an auditor: `--store-dir` for the fs store's `blobs/`
 * directory, or `--s3-bucket` with the usual AWS variables) it also hashes the stored bytes.
 *
 * A pointer not yet covered by an anchor is reported as such (exit 1): the next anchor (within
 * `AGENTKEYS_ANCHOR_EVERY`) covers it.
 *
 * @module
 */

import { createPublicClient, type Hex, http, parseAbiItem } from "viem";
import { foldProof, leafHash } from "../integrity/mod.ts";
import { type BlobStore, FsBlobStore, S3BlobStore } from "../store/mod.ts";
import type { AgentKeysClient } from "../client/mod.ts";
import { createHash } from "node:crypto";

/** What a proof answer holds (routes/integrity.ts). */
interface ProofAnswer {
  pointer: {
    key: string;
    version: number;
    epoch: number | null;
    sha256: string | null;
    size: number;
    seq: number;
  };
  anchor: { root: string; seq: number; tx_hash: string | null; block: number | null } | null;
  root: string;
  siblings: string[];
  chain_id: number | null;
  vault_anchor: string | null;
  format: string;
}

const LATEST = parseAbiItem(
  "function latestAnchor() view returns (bytes32 root, uint64 seq, uint64 count, uint64 anchoredAt)",
);
const ANCHORED = parseAbiItem(
  "event PointersAnchored(bytes32 indexed root, uint64 seq, uint64 count)",
);

/** Where the stored bytes can be read directly, when the caller may. */
export interface DirectStore {
  dir?: string;
  s3?: { bucket: string; endpoint?: string; region?: string };
}

/**
 * The chain and contract the caller trusts (`--rpc-url`, `--vault-anchor`). Without them the
 * verifier uses what the service names — its RPC proxy and its VaultAnchor — so a service that
 * lies can name a contract of its own that anchors any root: only a pinned contract, read
 * through a node of the caller's choice, checks the service.
 */
export interface ChainPin {
  rpcUrl?: string;
  vaultAnchor?: string;
}

/** Which blob to prove: a credential by service, or an inbound message by id. */
export type VerifyTarget =
  | { actor_omni: string; service: string }
  | { actor_omni: string; message_id: string };

/**
 * Verifies one blob; resolves with the exit code (0 verified, 1 not verified).
 *
 * ```ts
 * await verifyBlob(api, { actor_omni, service: "openai" }, {}, (line) => console.log(line));
 * ```
 */
export async function verifyBlob(
  api: AgentKeysClient,
  target: VerifyTarget,
  direct: DirectStore,
  out: (line: string) => void,
  pin: ChainPin = {},
): Promise<number> {
  const [route, q] = "service" in target
    ? ["cred", new URLSearchParams({ actor_omni: target.actor_omni, service: target.service })]
    : [
      "inbound",
      new URLSearchParams({ actor_omni: target.actor_omni, message_id: target.message_id }),
    ];
  let proof = await api.call<ProofAnswer>("GET", `/v1/${route}/proof?${q}`);
  // Only the latest anchor says what the bytes are now: a proof against an earlier one (still on
  // chain) would verify bytes rolled back to that version. An honest service proves against its
  // latest anchor, so a newer one means one landed meanwhile: ask again.
  for (let attempt = 1; attempt < PROOF_ATTEMPTS && proof.anchor && proof.vault_anchor; attempt++) {
    const latest = await latestOnChain(api, pin, proof.vault_anchor as Hex);
    if (latest === null || latest.seq <= proof.anchor.seq) break;
    proof = await api.call<ProofAnswer>("GET", `/v1/${route}/proof?${q}`);
  }
  if (proof.format !== "agentkeys.smt.v1") {
    out(`unknown proof format ${proof.format}`);
    return 1;
  }
  const p = proof.pointer;
  out(`pointer: ${p.key} version ${p.version} epoch ${p.epoch ?? "-"} sha256 ${p.sha256}`);
  const root = `0x${
    foldProof(p.key, leafHash(p), proof.siblings.map((s) => Uint8Array.fromHex(s.slice(2))))
      .toHex()
  }`;
  if (root !== proof.root) {
    out(`FAILED: the path does not lead to the root the service names (${proof.root})`);
    return 1;
  }
  let ok = true;
  if (!proof.anchor) {
    out("NOT YET ANCHORED: the next anchor covers this pointer; verify again later");
    ok = false;
  } else if (!proof.vault_anchor) {
    out("FAILED: the service names no VaultAnchor contract to check the root against");
    ok = false;
  } else {
    ok = await checkOnChain(api, pin, proof, root as Hex, out) && ok;
  }
  if (direct.dir || direct.s3) ok = await checkBytes(direct, p, out) && ok;
  out(ok ? "verified" : "NOT verified");
  return ok ? 0 : 1;
}

/** Proofs asked for while anchors keep landing between the proof and the chain read. */
const PROOF_ATTEMPTS = 3;

/** The RPC URL to read the chain through: the pinned one, else the service's proxy. */
async function rpcUrlOf(api: AgentKeysClient, pin: ChainPin): Promise<string | undefined> {
  return pin.rpcUrl ?? (await api.chain()).rpc_url;
}

/** The chain's latest pointer anchor, `null` when there is no RPC URL to read it through. */
async function latestOnChain(
  api: AgentKeysClient,
  pin: ChainPin,
  named: Hex,
): Promise<{ root: string; seq: number } | null> {
  const url = await rpcUrlOf(api, pin);
  if (!url) return null;
  const client = createPublicClient({ transport: http(url) });
  const [root, seq] = await client.readContract({
    address: (pin.vaultAnchor as Hex | undefined) ?? named,
    abi: [LATEST],
    functionName: "latestAnchor",
  });
  return { root, seq: Number(seq) };
}

async function checkOnChain(
  api: AgentKeysClient,
  pin: ChainPin,
  proof: ProofAnswer,
  root: Hex,
  out: (line: string) => void,
): Promise<boolean> {
  const url = await rpcUrlOf(api, pin);
  if (!url) {
    out("FAILED: the service publishes no RPC URL; check the root with your own node (--rpc-url)");
    return false;
  }
  if (pin.vaultAnchor && pin.vaultAnchor.toLowerCase() !== proof.vault_anchor!.toLowerCase()) {
    out(
      `FAILED: the service names VaultAnchor ${proof.vault_anchor}, not the pinned ${pin.vaultAnchor}`,
    );
    return false;
  }
  const client = createPublicClient({ transport: http(url) });
  const chainId = await client.getChainId();
  if (proof.chain_id !== null && chainId !== proof.chain_id) {
    out(`FAILED: the proof names chain ${proof.chain_id}, the node at the RPC URL is ${chainId}`);
    return false;
  }
  if (!pin.vaultAnchor) {
    out(
      `note: VaultAnchor ${proof.vault_anchor} ${pin.rpcUrl ? "" : "and the chain "}as the ` +
        "service names them; pin them with --vault-anchor and --rpc-url to check the service",
    );
  }
  const address = proof.vault_anchor as Hex;
  const [latestRoot, latestSeq] = await client.readContract({
    address,
    abi: [LATEST],
    functionName: "latestAnchor",
  });
  if (Number(latestSeq) !== proof.anchor!.seq || latestRoot !== root) {
    out(
      `FAILED: the proof is against seq ${proof.anchor!.seq}, not the chain's latest anchor ` +
        `(seq ${latestSeq}, root ${latestRoot}): the blob may have been written since`,
    );
    return false;
  }
  // The anchor the proof names, found by its event in the block the service reports.
  const block = proof.anchor!.block;
  const logs = await client.getLogs({
    address,
    event: ANCHORED,
    args: { root },
    ...(block === null ? {} : { fromBlock: BigInt(block), toBlock: BigInt(block) }),
  });
  const hit = logs.find((l) => Number(l.args.seq) === proof.anchor!.seq);
  if (!hit) {
    out(`FAILED: no PointersAnchored(${root}, seq ${proof.anchor!.seq}) on chain at ${address}`);
    return false;
  }
  out(
    `root ${root} anchored on chain ${chainId} at seq ${proof.anchor!.seq} ` +
      `(block ${hit.blockNumber}, tx ${hit.transactionHash}; latest anchor seq ${latestSeq})`,
  );
  return true;
}

async function checkBytes(
  direct: DirectStore,
  p: ProofAnswer["pointer"],
  out: (line: string) => void,
): Promise<boolean> {
  const store: BlobStore = direct.dir ? new FsBlobStore(direct.dir) : new S3BlobStore({
    bucket: direct.s3!.bucket,
    endpoint: direct.s3!.endpoint,
    region: direct.s3!.region ?? "us-east-1",
    forcePathStyle: true,
  });
  try {
    const got = await store.get(p.key);
    const found = got === null ? null : createHash("sha256").update(got.body).digest("hex");
    if (found !== p.sha256) {
      out(`FAILED: the stored bytes hash to ${found ?? "(missing)"}, the pointer says ${p.sha256}`);
      return false;
    }
    out(`stored bytes match the pointer (${got?.body.length ?? 0} bytes)`);
    return true;
  } finally {
    await store.close();
  }
}
