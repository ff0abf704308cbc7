/**
 * The sidecar's policy: which local program (uid, binary) may use which upstream service, and
 * how each service's credential is injected. Parsed from TOML; see docs/SIDECAR.md.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { parse } from "smol-toml";
import { isValidName, NAME_RULE } from "../identity/mod.ts";

/** Where the real credential goes in the upstream request. */
export type Injection =
  | { kind: "bearer" }
  | { kind: "header"; name: string }
  | { kind: "query"; name: string };

export interface ServicePolicy {
  /** Base URL; the agent's `/<service>/<path>` is appended to it. */
  upstream: string;
  inject: Injection;
  /** Upper-case methods allowed; absent: any. */
  methods?: string[];
  /** Path prefixes (after the service, starting with `/`) allowed; absent: any. */
  paths?: string[];
}

export interface CallerRule {
  uid: number;
  exe: string;
  services: string[];
  /** Whether `GET /v1/credentials/<service>` may hand this caller the raw secret. */
  reveal: boolean;
  /** Rings whose documents `GET /v1/keyrings/<ring>/<name>` may hand this caller; default none. */
  keyrings: string[];
}

/** A client of the `--tcp` listener, known by its bearer token instead of its peer credentials. */
export interface ClientRule {
  /** For the audit log (the token itself is never logged). */
  name: string;
  /** SHA-256 of the token, compared in constant time. */
  tokenHash: Uint8Array;
  services: string[];
  reveal: boolean;
  keyrings: string[];
}

export interface Policy {
  callers: CallerRule[];
  clients: ClientRule[];
  services: Record<string, ServicePolicy>;
}

/** Tokens shorter than this are refused: a guessable token is a shared secret in name only. */
export const MIN_TOKEN_LENGTH = 32;

/** The policy file is not valid TOML or does not follow the schema. */
export class PolicyInvalid extends Error {
  override name = "PolicyInvalid";
}

const SERVICE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const METHOD = /^[A-Z]+$/;

/**
 * Parses and checks a policy; throws {@linkcode PolicyInvalid} naming the first problem.
 *
 * ```ts
 * const policy = parsePolicy(await Deno.readTextFile("policy.toml"));
 * ```
 */
export function parsePolicy(text: string): Policy {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new PolicyInvalid(`not valid TOML: ${(err as Error).message.split("\n")[0]}`);
  }
  for (const key of Object.keys(doc)) {
    if (key !== "caller" && key !== "client" && key !== "service") {
      throw new PolicyInvalid(`unknown table ${key}`);
    }
  }
  const services: Record<string, ServicePolicy> = {};
  const rawServices = doc.service ?? {};
  if (!isTable(rawServices)) throw new PolicyInvalid("[service] must be a table");
  for (const [name, raw] of Object.entries(rawServices)) {
    if (!SERVICE_NAME.test(name)) throw new PolicyInvalid(`bad service name ${name}`);
    services[name] = servicePolicy(name, raw);
  }
  const rawCallers = doc.caller ?? [];
  if (!Array.isArray(rawCallers)) throw new PolicyInvalid("caller must be [[caller]] entries");
  const callers = rawCallers.map((raw, i) => callerRule(i, raw, services));
  const rawClients = doc.client ?? [];
  if (!Array.isArray(rawClients)) throw new PolicyInvalid("client must be [[client]] entries");
  const clients = rawClients.map((raw, i) => clientRule(i, raw, services));
  const names = new Set(clients.map((c) => c.name));
  if (names.size !== clients.length) throw new PolicyInvalid("two [[client]] entries share a name");
  return { callers, clients, services };
}

function servicePolicy(name: string, raw: unknown): ServicePolicy {
  const where = `service.${name}`;
  if (!isTable(raw)) throw new PolicyInvalid(`${where} must be a table`);
  let upstream: URL;
  try {
    upstream = new URL(String(raw.upstream));
  } catch {
    throw new PolicyInvalid(`${where}.upstream must be a URL`);
  }
  if (upstream.protocol !== "https:" && upstream.protocol !== "http:") {
    throw new PolicyInvalid(`${where}.upstream must be http(s)`);
  }
  if (upstream.search || upstream.hash || upstream.username || upstream.password) {
    throw new PolicyInvalid(`${where}.upstream must not carry a query, fragment or userinfo`);
  }
  const out: ServicePolicy = {
    upstream: upstream.href.replace(/\/+$/, ""),
    inject: injection(where, raw.inject),
  };
  if (raw.methods !== undefined) {
    if (!Array.isArray(raw.methods) || !raw.methods.every((m) => METHOD.test(String(m)))) {
      throw new PolicyInvalid(`${where}.methods must be a list of upper-case methods`);
    }
    out.methods = raw.methods.map(String);
  }
  if (raw.paths !== undefined) {
    if (
      !Array.isArray(raw.paths) ||
      !raw.paths.every((p) => typeof p === "string" && p.startsWith("/"))
    ) {
      throw new PolicyInvalid(`${where}.paths must be a list of paths starting with /`);
    }
    out.paths = raw.paths as string[];
  }
  return out;
}

function injection(where: string, raw: unknown): Injection {
  if (raw === "bearer") return { kind: "bearer" };
  if (isTable(raw)) {
    const keys = Object.keys(raw);
    if (keys.length === 1 && typeof raw.header === "string" && HEADER_NAME.test(raw.header)) {
      return { kind: "header", name: raw.header.toLowerCase() };
    }
    if (keys.length === 1 && typeof raw.query === "string" && raw.query.length > 0) {
      return { kind: "query", name: raw.query };
    }
  }
  throw new PolicyInvalid(`${where}.inject must be "bearer", {header = "…"} or {query = "…"}`);
}

function callerRule(
  i: number,
  raw: unknown,
  services: Record<string, ServicePolicy>,
): CallerRule {
  const where = `caller[${i}]`;
  if (!isTable(raw)) throw new PolicyInvalid(`${where} must be a table`);
  if (!Number.isSafeInteger(raw.uid) || (raw.uid as number) < 0) {
    throw new PolicyInvalid(`${where}.uid must be a whole number`);
  }
  if (typeof raw.exe !== "string" || !raw.exe.startsWith("/")) {
    throw new PolicyInvalid(`${where}.exe must be an absolute path`);
  }
  if (!Array.isArray(raw.services) || !raw.services.every((s) => typeof s === "string")) {
    throw new PolicyInvalid(`${where}.services must be a list of service names`);
  }
  for (const s of raw.services as string[]) {
    if (!services[s]) throw new PolicyInvalid(`${where} names service ${s}, which has no table`);
  }
  if (raw.reveal !== undefined && typeof raw.reveal !== "boolean") {
    throw new PolicyInvalid(`${where}.reveal must be true or false`);
  }
  return {
    uid: raw.uid as number,
    exe: raw.exe,
    services: raw.services as string[],
    reveal: raw.reveal === true,
    keyrings: keyringList(where, raw.keyrings),
  };
}

function clientRule(
  i: number,
  raw: unknown,
  services: Record<string, ServicePolicy>,
): ClientRule {
  const where = `client[${i}]`;
  if (!isTable(raw)) throw new PolicyInvalid(`${where} must be a table`);
  if (typeof raw.name !== "string" || !SERVICE_NAME.test(raw.name)) {
    throw new PolicyInvalid(`${where}.name must be a short lower-case name`);
  }
  if (
    typeof raw.token !== "string" || raw.token.length < MIN_TOKEN_LENGTH ||
    !/^[\x21-\x7e]+$/.test(raw.token)
  ) {
    // The message never repeats the token.
    throw new PolicyInvalid(
      `${where}.token must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces`,
    );
  }
  if (!Array.isArray(raw.services) || !raw.services.every((s) => typeof s === "string")) {
    throw new PolicyInvalid(`${where}.services must be a list of service names`);
  }
  for (const s of raw.services as string[]) {
    if (!services[s]) throw new PolicyInvalid(`${where} names service ${s}, which has no table`);
  }
  if (raw.reveal !== undefined && typeof raw.reveal !== "boolean") {
    throw new PolicyInvalid(`${where}.reveal must be true or false`);
  }
  return {
    name: raw.name,
    tokenHash: sha256(raw.token),
    services: raw.services as string[],
    reveal: raw.reveal === true,
    keyrings: keyringList(where, raw.keyrings),
  };
}

/** A `keyrings` list: ring names (the service's name rule); absent means none. */
function keyringList(where: string, raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || !raw.every(isValidName)) {
    throw new PolicyInvalid(`${where}.keyrings must be a list of ring names (${NAME_RULE})`);
  }
  return raw;
}

function sha256(text: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(text).digest());
}

/**
 * The client whose token this is, or undefined. Every entry is compared, each in constant time
 * over equal-length digests, so the answer's timing says nothing about the tokens.
 */
export function clientRuleFor(policy: Policy, token: string | undefined): ClientRule | undefined {
  if (token === undefined) return undefined;
  const hash = sha256(token);
  let found: ClientRule | undefined;
  for (const c of policy.clients) {
    if (timingSafeEqual(hash, c.tokenHash) && found === undefined) found = c;
  }
  return found;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** The rule for a caller, or undefined: unknown callers get nothing. */
export function callerRuleFor(
  policy: Policy,
  caller: { uid: number; exe: string | null },
): CallerRule | undefined {
  if (caller.exe === null) return undefined;
  return policy.callers.find((c) => c.uid === caller.uid && c.exe === caller.exe);
}

/** Whether a service's method and path allow-lists let this request through. */
export function requestAllowed(service: ServicePolicy, method: string, path: string): boolean {
  if (service.methods && !service.methods.includes(method)) return false;
  if (
    service.paths &&
    !service.paths.some((p) => path === p || path.startsWith(p.endsWith("/") ? p : `${p}/`))
  ) {
    return false;
  }
  return true;
}

/**
 * Keeps the current policy of a file, re-reading it when its mtime or size changes. A file
 * that no longer parses leaves the previous policy in force and is reported through `log`.
 */
export class PolicyFile {
  #policy: Policy;
  #stamp: string;
  #timer?: ReturnType<typeof setInterval>;

  private constructor(
    readonly path: string,
    policy: Policy,
    stamp: string,
    private readonly log: (line: string) => void,
  ) {
    this.#policy = policy;
    this.#stamp = stamp;
  }

  /** Loads the file; an unreadable or invalid file at start is an error (nothing to keep). */
  static async open(path: string, log: (line: string) => void): Promise<PolicyFile> {
    const stamp = await stampOf(path);
    const policy = parsePolicy(await Deno.readTextFile(path));
    return new PolicyFile(path, policy, stamp, log);
  }

  get current(): Policy {
    return this.#policy;
  }

  /** Re-reads the file if it changed; returns whether a new policy took effect. */
  async refresh(): Promise<boolean> {
    let stamp: string;
    try {
      stamp = await stampOf(this.path);
    } catch (err) {
      if (this.#stamp !== "gone") {
        this.log(`policy ${this.path} unreadable, keeping the last one: ${(err as Error).message}`);
      }
      this.#stamp = "gone";
      return false;
    }
    if (stamp === this.#stamp) return false;
    this.#stamp = stamp;
    try {
      this.#policy = parsePolicy(await Deno.readTextFile(this.path));
      this.log(`policy ${this.path} reloaded`);
      return true;
    } catch (err) {
      this.log(`policy ${this.path} rejected, keeping the last one: ${(err as Error).message}`);
      return false;
    }
  }

  /** Polls every `ms` (mtime polling works on every filesystem, unlike inotify). */
  watch(ms = 1000): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.refresh(), ms);
    Deno.unrefTimer(this.#timer);
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

async function stampOf(path: string): Promise<string> {
  const st = await Deno.stat(path);
  return `${st.mtime?.getTime()}:${st.size}:${st.ino}`;
}
