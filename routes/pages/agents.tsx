/**
 * `/agents` and `/agents/:label`: the signed-in operator's agents as the chain records them
 * (read through `Broker.me`, so another operator's agents are never in view), with the islands
 * that send the operator's own transactions: AddAgent (register, with a browser-generated or a
 * pasted device) and ManageAgent (scope, revocation, purge).
 *
 * @module
 */

import type { VNode } from "preact";
import AddAgent from "../../islands/AddAgent.tsx";
import ManageAgent from "../../islands/ManageAgent.tsx";
import { Island } from "../../lib/ui/mod.ts";
import { App, type Viewer } from "./_app.tsx";
import type { PageDeps, Session } from "./_deps.ts";
import { formatTime } from "./_epochs_table.tsx";

/** One agent (one label and generation) as the pages show it. */
export interface AgentRow {
  label: string;
  generation: number;
  actorOmni: string;
  deviceKeyHash: string;
  revoked: boolean;
  registeredAt: string;
  /** Null when the agent has no services on chain. */
  scope: { services: string[]; readOnly: boolean } | null;
}

export interface AgentsData {
  viewer: Viewer;
  operatorOmni: string;
  agents: AgentRow[];
  /** The next free generation of each label in use. */
  nextGeneration: Record<string, number>;
}

/** What `Broker.me` answers about one agent. */
export interface MeAgent {
  actor_omni: string;
  label: string;
  generation: number;
  device_key_hash: string;
  revoked: boolean;
  registered_at: string;
  scope: { services: string[]; read_only: boolean };
}

export async function load(deps: PageDeps, session: Session): Promise<AgentsData> {
  const me = await deps.broker.me(session);
  return agentsModel({
    viewer: { address: session.address, isAdmin: me.is_admin },
    operatorOmni: session.operatorOmni,
    agents: me.agents,
  });
}

/** Agents by label, newest generation first; each label's next free generation. */
export function agentsModel(
  input: { viewer: Viewer; operatorOmni: string; agents: MeAgent[] },
): AgentsData {
  const agents = input.agents.map((a) => ({
    label: a.label,
    generation: Number(a.generation),
    actorOmni: a.actor_omni,
    deviceKeyHash: a.device_key_hash,
    revoked: a.revoked,
    registeredAt: a.registered_at,
    scope: a.scope.services.length > 0
      ? { services: a.scope.services, readOnly: a.scope.read_only }
      : null,
  })).sort((a, b) => a.label.localeCompare(b.label) || b.generation - a.generation);
  const nextGeneration: Record<string, number> = {};
  for (const a of agents) {
    nextGeneration[a.label] = Math.max(nextGeneration[a.label] ?? 0, a.generation + 1);
  }
  return { viewer: input.viewer, operatorOmni: input.operatorOmni, agents, nextGeneration };
}

/** `0x1234…cdef` of a 32-byte hash. */
export function shortHash(hex: string): string {
  return hex.length > 14 ? `${hex.slice(0, 6)}…${hex.slice(-4)}` : hex;
}

/** A service name the service never learnt is shown as its hash: shortened, full in a title. */
function ServiceName({ name }: { name: string }): VNode {
  return /^0x[0-9a-f]{64}$/.test(name)
    ? <code title={name}>{shortHash(name)}</code>
    : <span>{name}</span>;
}

function ScopeText({ scope }: { scope: AgentRow["scope"] }): VNode {
  if (!scope) return <span class="muted">none</span>;
  return (
    <span>
      {scope.services.map((s, i) => (
        <span key={s}>
          {i > 0 && ", "}
          <ServiceName name={s} />
        </span>
      ))}
      {scope.readOnly && <span class="badge">read-only</span>}
    </span>
  );
}

function State({ revoked }: { revoked: boolean }): VNode {
  return revoked
    ? <span class="state revoked">revoked</span>
    : <span class="state active">active</span>;
}

export default function AgentsPage(data: AgentsData): VNode {
  return (
    <App title="Agents" viewer={data.viewer} current="/agents">
      <h1>Agents</h1>
      <section class="card" aria-labelledby="agents-title">
        <h2 id="agents-title">Your agents</h2>
        {data.agents.length === 0 ? <p>No agents yet. Add one below.</p> : (
          <table class="agents">
            <caption class="visually-hidden">
              Your agents, their devices, states and scopes
            </caption>
            <thead>
              <tr>
                <th scope="col">Label</th>
                <th scope="col" class="num">Generation</th>
                <th scope="col">Device key hash</th>
                <th scope="col">State</th>
                <th scope="col">Scope</th>
              </tr>
            </thead>
            <tbody>
              {data.agents.map((a) => (
                <tr key={a.actorOmni}>
                  <th scope="row">
                    <a href={`/agents/${a.label}`}>{a.label}</a>
                  </th>
                  <td class="num">{a.generation}</td>
                  <td>
                    <code title={a.deviceKeyHash}>{shortHash(a.deviceKeyHash)}</code>
                  </td>
                  <td>
                    <State revoked={a.revoked} />
                  </td>
                  <td>
                    <ScopeText scope={a.scope} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section class="card" aria-labelledby="add-agent-title">
        <h2 id="add-agent-title">Add an agent</h2>
        <Island
          component={AddAgent}
          props={{
            operator: data.viewer.address,
            operatorOmni: data.operatorOmni,
            nextGeneration: data.nextGeneration,
          }}
        />
      </section>
    </App>
  );
}

/** `/agents/:label`: every generation of one label, newest first; null when there is none. */
export function AgentPage(data: AgentsData, label: string): VNode | null {
  const generations = data.agents.filter((a) => a.label === label);
  if (generations.length === 0) return null;
  return (
    <App title={`Agent ${label}`} viewer={data.viewer} current="/agents">
      <p class="crumbs">
        <a href="/agents">Agents</a> / {label}
      </p>
      <h1>Agent {label}</h1>
      {generations.map((a) => (
        <section
          class="card"
          key={a.actorOmni}
          aria-labelledby={`gen-${a.generation}`}
        >
          {/* The state is the island's to show: a revocation changes it without a reload. */}
          <h2 id={`gen-${a.generation}`}>Generation {a.generation}</h2>
          <dl class="facts">
            <dt>Actor</dt>
            <dd>
              <code title={a.actorOmni}>{shortHash(a.actorOmni)}</code>
            </dd>
            <dt>Device key hash</dt>
            <dd>
              <code title={a.deviceKeyHash}>{shortHash(a.deviceKeyHash)}</code>
            </dd>
            <dt>Registered</dt>
            <dd>
              <time datetime={a.registeredAt}>{formatTime(a.registeredAt)}</time>
            </dd>
            {
              // A live agent's scope is the island's to show: it changes without a reload.
              a.revoked && (
                <>
                  <dt>Scope</dt>
                  <dd>
                    <ScopeText scope={a.scope} />
                  </dd>
                </>
              )
            }
          </dl>
          <Island
            component={ManageAgent}
            props={{
              operator: data.viewer.address,
              label: a.label,
              generation: a.generation,
              actorOmni: a.actorOmni,
              deviceKeyHash: a.deviceKeyHash,
              revoked: a.revoked,
              scope: a.scope,
            }}
          />
        </section>
      ))}
    </App>
  );
}

/** The answer for a label the operator has no agent under (another's, or none at all). */
export function NoAgentPage(data: AgentsData, label: string): VNode {
  return (
    <App title="No such agent" viewer={data.viewer} current="/agents">
      <h1>No agent labelled {label}</h1>
      <p>
        You have no agent with this label. <a href="/agents">See your agents</a>.
      </p>
    </App>
  );
}
