/**
 * `/keyrings` and `/keyrings/:ring` (issue 14): the operator's rings, and one ring's members,
 * rotation and key history, read from the signed record the service stores. Membership changes
 * (create, add, remove) are made by the KeyringMembers island and signed with the injected
 * wallet; the service never holds a group key, and these pages never show a document's content
 * (not even its ciphertext).
 *
 * @module
 */

import type { VNode } from "preact";
import KeyringMembers from "../../islands/KeyringMembers.tsx";
import { Island } from "../../lib/ui/mod.ts";
import type { RingRecord } from "../../lib/keyrings/mod.ts";
import { App, shortAddress, type Viewer } from "./_app.tsx";
import type { PageDeps, Session } from "./_deps.ts";

/** An agent the operator may add, as the island needs it. */
export interface RingAgent extends Record<string, unknown> {
  label: string;
  actorOmni: string;
  deviceKeyHash: string;
  /** Revoked agents are offered for removal only (never for adding). */
  revoked: boolean;
}

export interface KeyringsData {
  viewer: Viewer;
  rings: string[];
  notice?: string;
}

export interface KeyringData {
  viewer: Viewer;
  ring: string;
  /** Null when the ring does not exist (or is another operator's: the same answer). */
  record: RingRecord | null;
  /** Display names of actors: the operator and its agents by label. */
  names: Record<string, string>;
  agents: RingAgent[];
  notice?: string;
}

async function viewerOf(deps: PageDeps, session: Session) {
  const me = await deps.broker.me(session);
  const names: Record<string, string> = { [session.operatorOmni]: "operator (you)" };
  const agents: RingAgent[] = [];
  for (const a of me.agents) {
    const name = `${a.label}${Number(a.generation) > 0 ? ` (generation ${a.generation})` : ""}`;
    names[a.actor_omni] = a.revoked ? `${name} (revoked: remove it to rotate the key)` : name;
    agents.push({
      label: name,
      actorOmni: a.actor_omni,
      deviceKeyHash: a.device_key_hash,
      revoked: a.revoked,
    });
  }
  return { viewer: { address: session.address, isAdmin: me.is_admin }, names, agents };
}

export async function load(
  deps: PageDeps,
  session: Session,
  query: Record<string, string> = {},
): Promise<KeyringsData> {
  const { viewer } = await viewerOf(deps, session);
  const rings = deps.keyrings ? await deps.keyrings.list(session.operatorOmni) : [];
  return { viewer, rings, notice: query.created ? `Created ring ${query.created}.` : undefined };
}

export async function loadRing(
  deps: PageDeps,
  session: Session,
  ring: string,
  query: Record<string, string> = {},
): Promise<KeyringData> {
  const { viewer, names, agents } = await viewerOf(deps, session);
  let record: RingRecord | null = null;
  try {
    record = deps.keyrings
      ? await deps.keyrings.read(session.operatorOmni, ring, session.operatorOmni)
      : null;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== "keyring_not_found" && code !== "bad_request") throw err;
  }
  const notice = query.added
    ? `Added ${query.added}.`
    : query.removed
    ? `Removed ${query.removed}: the group key was rotated.`
    : undefined;
  return { viewer, ring, record, names, agents, notice };
}

export default function KeyringsPage(data: KeyringsData): VNode {
  return (
    <App title="Keyrings" viewer={data.viewer} current="/keyrings">
      <h1>Keyrings</h1>
      <p class="lead">
        Documents shared by a team of your agents, encrypted end to end: the service stores them but
        holds no key that opens them. Membership changes are signed with your wallet.
      </p>
      {data.notice && <p class="notice ok" role="status">{data.notice}</p>}
      <section class="card" aria-labelledby="rings-title">
        <h2 id="rings-title">Your rings</h2>
        {data.rings.length === 0 ? <p>No rings yet.</p> : (
          <ul>
            {data.rings.map((r) => (
              <li key={r}>
                <a href={`/keyrings/${encodeURIComponent(r)}`}>{r}</a>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section class="card" aria-labelledby="create-title">
        <h2 id="create-title">Create a ring</h2>
        <Island
          component={KeyringMembers}
          props={{
            mode: "create" as const,
            ring: "",
            operatorAddress: data.viewer.address,
            agents: [],
            members: [],
          }}
        />
      </section>
    </App>
  );
}

export function KeyringPage(data: KeyringData): VNode {
  const r = data.record;
  const name = (omni: string) => data.names[omni] ?? `${omni.slice(0, 10)}…`;
  if (!r) {
    return (
      <App title={`Ring ${data.ring}`} viewer={data.viewer} current="/keyrings">
        <h1>Ring {data.ring}</h1>
        <p class="notice error" role="alert">
          No ring of yours is named {data.ring}. <a href="/keyrings">All rings</a>
        </p>
      </App>
    );
  }
  const memberOmnis = r.members.map((m) => m.actor_omni);
  return (
    <App title={`Ring ${r.ring}`} viewer={data.viewer} current="/keyrings">
      <h1>Ring {r.ring}</h1>
      {data.notice && <p class="notice ok" role="status">{data.notice}</p>}
      <section class="card" aria-labelledby="ring-state">
        <h2 id="ring-state">Current rotation</h2>
        <dl class="facts">
          <dt>Rotation</dt>
          <dd>{r.rotation}</dd>
          <dt>Record version</dt>
          <dd>{r.version}</dd>
          <dt>Signed by</dt>
          <dd>
            <code title={r.operator_address}>{shortAddress(r.operator_address)}</code>{" "}
            (your wallet; checked by the service and by every member)
          </dd>
        </dl>
        <table class="creds members">
          <caption>Members holding the group key of rotation {r.rotation}</caption>
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Actor</th>
            </tr>
          </thead>
          <tbody>
            {r.members.map((m) => (
              <tr key={m.actor_omni}>
                <th scope="row">{name(m.actor_omni)}</th>
                <td>
                  <code title={m.actor_omni}>{`${m.actor_omni.slice(0, 10)}…`}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section class="card" aria-labelledby="ring-members">
        <h2 id="ring-members">Change membership</h2>
        <Island
          component={KeyringMembers}
          props={{
            mode: "ring" as const,
            ring: r.ring,
            operatorAddress: data.viewer.address,
            agents: data.agents,
            members: memberOmnis,
          }}
        />
      </section>
      <section class="card" aria-labelledby="ring-history">
        <h2 id="ring-history">Key history</h2>
        {r.key_history.length === 0 ? <p>No earlier rotation: nobody has been removed.</p> : (
          <>
            <p>
              Earlier group keys, archived when a member was removed, so the remaining members keep
              reading older documents.
            </p>
            <ul>
              {[...r.key_history].reverse().map((h) => (
                <li key={h.rotation}>
                  Rotation {h.rotation}: {h.members.map((m) => name(m.actor_omni)).join(", ")}
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
    </App>
  );
}
