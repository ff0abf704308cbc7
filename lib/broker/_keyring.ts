/**
 * The broker's signing keys, sealed in the data directory: K1 (sessions and caps, verified only
 * by this service) is Ed25519 (`EdDSA`), K2 (OIDC tokens for STS) is P-256 (`ES256`), the one
 * algorithm AWS STS and Ceph RGW accept. Rotation adds a key and keeps the previous public keys
 * in the JWKS until every token they signed has expired (§3). OIDC keys carry a self-signed
 * certificate in `x5c` because Ceph RGW reads only the first JWKS key and requires `x5c`.
 *
 * A K1 file from before Ed25519 (a P-256 current key) is rotated on open like any rotation: the
 * P-256 key stays retired for `retainSeconds`, so sessions it signed stay valid until they expire
 * (their verifier accepts the algorithms of {@linkcode SigningKeyring.algorithms}); caps accept
 * EdDSA only.
 *
 * @module
 */

import "reflect-metadata"; // @peculiar/x509's dependency injection needs it loaded first
import { X509CertificateGenerator } from "@peculiar/x509";
import { createLocalJWKSet, exportJWK, importJWK, type JWK, type JWTVerifyGetKey } from "jose";
import { dirname } from "node:path";
import { openSecret, sealSecret } from "../crypto/mod.ts";
import { jwkAlg, type JwsAlg, type JwsSigner, jwsSigner } from "../cap/mod.ts";
import { readTextIfExists, withFileLock, writeFileAtomic } from "../fsutil/mod.ts";

/** A signing key (EdDSA or ES256) with its id and public JWK. */
export interface SigningKey {
  kid: string;
  alg: JwsAlg;
  /** For `jose` (`SignJWT`), as OIDC signs. */
  privateKey: CryptoKey;
  /** The fast signer for hot paths (caps, sessions); see lib/cap/_jws.ts. */
  signer: JwsSigner;
  publicJwk: JWK;
}

/** The algorithm each keyring generates keys for (§3). */
export const KEYRING_ALG = { k1: "EdDSA", k2: "ES256" } as const satisfies Record<
  "k1" | "k2",
  JwsAlg
>;

/** The sealed key file exists but cannot be opened: never replaced with a new key. */
export class KeyringUnreadable extends Error {
  readonly code = "keyring_unreadable";
  constructor(path: string) {
    super(`cannot open ${path}: wrong seal key or a modified file; it was left untouched`);
    this.name = "KeyringUnreadable";
  }
}

interface StoredKey {
  kid: string;
  jwk: JWK; // private
  x5c?: string[];
  created_at: number; // ms
  retired_at?: number; // ms
}

/**
 * A seal key that can change while the process runs (the signer's `SealKey`: the embedded
 * `seal.key` moves to a fresh key whenever an epoch is destroyed). Structural, so the broker
 * does not import the signer.
 */
export interface KeyringSealer {
  seal(aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  open(aad: Uint8Array, sealed: Uint8Array): Promise<Uint8Array>;
}

/** The AAD a keyring file of `purpose` is sealed with (for re-sealing under a new seal key). */
export function keyringSealAad(purpose: "k1" | "k2"): Uint8Array {
  return new TextEncoder().encode(`agentkeys.keyring.${purpose}.v1`);
}

export interface KeyringOptions {
  path: string;
  /** 32 bytes, or a sealer whose key may change (the data directory's `SealKey`). */
  sealKey: Uint8Array | KeyringSealer;
  /** Label bound into the seal, so a K1 file cannot be passed off as K2. */
  purpose: "k1" | "k2";
  /** Give each key a self-signed certificate in `x5c` (OIDC). */
  withCertificate?: boolean;
  /** How long a retired key stays in the JWKS: the longest lifetime of what it signed. */
  retainSeconds: number;
  now?: () => number;
}

/**
 * ```ts
 * const k2 = await SigningKeyring.open({ path, sealKey, purpose: "k2", withCertificate: true, retainSeconds: 3600 });
 * const jwt = await new SignJWT(claims).setProtectedHeader({ alg: k2.current.alg, kid: k2.current.kid }).sign(k2.current.privateKey);
 * k2.jwks(); // { keys: [current, …previous still valid] }
 * ```
 */
export class SigningKeyring {
  #stored: StoredKey[] = [];
  #keys = new Map<string, SigningKey>();
  private constructor(private readonly options: KeyringOptions) {}

  static async open(options: KeyringOptions): Promise<SigningKeyring> {
    const ring = new SigningKeyring(options);
    await Deno.mkdir(dirname(options.path), { recursive: true });
    await withFileLock(`${options.path}.lock`, async () => {
      const stored = await ring.#read();
      if (stored && jwkAlg(stored[stored.length - 1].jwk) !== KEYRING_ALG[options.purpose]) {
        // A K1 written before Ed25519: new tokens get the new algorithm at once.
        const next = await ring.#rotated(stored);
        await ring.#write(next);
        await ring.#adopt(next);
      } else if (stored) {
        await ring.#adopt(stored);
      } else {
        const first = await ring.#generate();
        await ring.#write([first]);
        await ring.#adopt([first]);
      }
    });
    return ring;
  }

  /** The key new tokens are signed with. */
  get current(): SigningKey {
    return this.#keys.get(this.#stored[this.#stored.length - 1].kid)!;
  }

  /** Public keys: the current one first, then retired ones whose tokens may still be alive. */
  jwks(): { keys: JWK[] } {
    const now = this.#now();
    const live = this.#stored.filter((k) =>
      k.retired_at === undefined || now - k.retired_at < this.options.retainSeconds * 1000
    );
    return { keys: live.reverse().map((k) => this.#keys.get(k.kid)!.publicJwk) };
  }

  /**
   * The algorithms of the keys in {@linkcode jwks}, for `jwtVerify`'s `algorithms`: K1 gives
   * `["EdDSA"]`, plus `"ES256"` while a P-256 key from before Ed25519 is retained.
   */
  algorithms(): JwsAlg[] {
    return [...new Set(this.jwks().keys.map((k) => k.alg as JwsAlg))];
  }

  /**
   * A verifier over {@linkcode jwks} for `jwtVerify`; stable across rotations (it always
   * consults the keys of the moment). Each key answers only its own `alg`.
   */
  readonly verifier: JWTVerifyGetKey = (header, token) => this.#keySet!(header, token);
  #keySet?: ReturnType<typeof createLocalJWKSet>;

  /** Makes a new key current; the previous one stays verifiable for `retainSeconds`. */
  async rotate(): Promise<SigningKey> {
    await withFileLock(`${this.options.path}.lock`, async () => {
      const next = await this.#rotated((await this.#read()) ?? this.#stored);
      await this.#write(next);
      await this.#adopt(next);
    });
    return this.current;
  }

  /** `stored` with every key retired (dropped once past `retainSeconds`) and a new one last. */
  async #rotated(stored: StoredKey[]): Promise<StoredKey[]> {
    const now = this.#now();
    const cutoff = now - this.options.retainSeconds * 1000;
    const kept = stored
      .map((k) => k.retired_at === undefined ? { ...k, retired_at: now } : k)
      .filter((k) => k.retired_at! > cutoff);
    return [...kept, await this.#generate()];
  }

  #now() {
    return this.options.now?.() ?? Date.now();
  }

  #aad() {
    return keyringSealAad(this.options.purpose);
  }

  #sealer(): KeyringSealer {
    const key = this.options.sealKey;
    if (!(key instanceof Uint8Array)) return key;
    return {
      seal: (aad, plaintext) => sealSecret(key, aad, plaintext),
      open: (aad, sealed) => Promise.resolve(openSecret(key, aad, sealed)),
    };
  }

  async #generate(): Promise<StoredKey> {
    const algorithm = KEYRING_ALG[this.options.purpose] === "EdDSA"
      ? { name: "Ed25519" }
      : { name: "ECDSA", namedCurve: "P-256" };
    const pair = await crypto.subtle.generateKey(algorithm, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const kid = crypto.getRandomValues(new Uint8Array(8)).toHex();
    const jwk = { ...(await exportJWK(pair.privateKey)), kid };
    let x5c: string[] | undefined;
    if (this.options.withCertificate) {
      const now = this.#now();
      const cert = await X509CertificateGenerator.createSelfSigned({
        serialNumber: kid,
        name: `CN=AgentKeys ${this.options.purpose} ${kid}`,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 10 * 365 * 86_400_000),
        signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
        keys: pair,
      });
      x5c = [cert.toString("base64")];
    }
    return { kid, jwk, x5c, created_at: this.#now() };
  }

  async #adopt(stored: StoredKey[]) {
    const keys = new Map<string, SigningKey>();
    for (const k of stored) {
      const alg = jwkAlg(k.jwk);
      if (!alg) throw new KeyringUnreadable(this.options.path);
      const privateKey = await importJWK({ ...k.jwk, alg }, alg) as CryptoKey;
      const { d: _d, ...pub } = k.jwk;
      keys.set(k.kid, {
        kid: k.kid,
        alg,
        privateKey,
        signer: jwsSigner(k.jwk, k.kid),
        publicJwk: {
          ...pub,
          kid: k.kid,
          alg,
          use: "sig",
          ...(k.x5c ? { x5c: k.x5c } : {}),
        },
      });
    }
    this.#stored = stored;
    this.#keys = keys;
    this.#keySet = createLocalJWKSet(this.jwks());
  }

  async #read(): Promise<StoredKey[] | undefined> {
    const text = await readTextIfExists(this.options.path);
    if (text === undefined) return undefined;
    try {
      const sealed = Uint8Array.fromBase64(JSON.parse(text).sealed);
      const doc = JSON.parse(
        new TextDecoder().decode(await this.#sealer().open(this.#aad(), sealed)),
      );
      if (!Array.isArray(doc.keys) || doc.keys.length === 0) throw new Error("no keys");
      return doc.keys;
    } catch {
      throw new KeyringUnreadable(this.options.path);
    }
  }

  #write(keys: StoredKey[]): Promise<void> {
    const body = new TextEncoder().encode(JSON.stringify({ keys }));
    const sealed = this.#sealer().seal(this.#aad(), body);
    return writeFileAtomic(
      this.options.path,
      new TextEncoder().encode(JSON.stringify({ sealed: sealed.toBase64() }) + "\n"),
      { mode: 0o600 },
    );
  }
}
