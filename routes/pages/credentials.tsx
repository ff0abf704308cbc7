/**
 * `/credentials` (the operator's own) and `/agents/:label/credentials` (each generation of one
 * agent): per actor, the stored services with their epoch, size and last update, read through
 * `CredentialLister` (lib/worker), a page of {@linkcode PAGE_SIZE} at a time (`?cursor=`).
 *
 * Secrets are write-only here: the StoreCredential island mints a `cred-store` cap and posts the
 * value straight to the worker; DeleteCredential asks for confirmation, then tears down. Nothing
 * on these pages fetches, reveals or renders a stored value, and "Replace" is a link that only
 * names the service (`?replace=<service>`).
 *
 * @module
 */

import type { VNode } from "preact";
import DeleteCredential from "../../islands/DeleteCredential.tsx";
import StoreCredential from "../../islands/StoreCredential.tsx";
import { isValidName } from "../../lib/identity/mod.ts";
import type { CredentialItem } from "../../lib/worker/mod.ts";
import { Island } from "../../lib/ui/mod.ts";
import { App, type Viewer } from "./_app.tsx";
import type { PageDeps, Session } from "./_deps.ts";
import { formatTime } from "./_epochs_table.tsx";

/** Credentials per page of one actor's listing. */
export const PAGE_SIZE = 50;

/** One actor's section: the operator itself, or one generation of an agent. */
export interface ActorCredentials {
  actorOmni: string;
  /** "You" or "mail-bot (generation 0)". */
  title: string;
  revoked: boolean;
  /** Services the agent's scope allows (suggestions for the store form); empty for the operator. */
  scope: string[];
  items: CredentialItem[];
  nextCursor: string | null;
}

export interface CredentialsData {
  viewer: Viewer;
  operatorOmni: string;
  /** The agent's label, or null on the operator's own page. */
  label: string | null;
  actors: ActorCredentials[];
  /** The service the store form starts with (`?replace=`), when it is a valid name. */
  replace: string;
  /** The `cursor` this page was asked with (for the "first page" link). */
  cursor: string | null;
  /** What the last action did ("Stored openai."), from `?stored=` or `?deleted=`. */
  notice: string;
}

/** What the page's query may carry. */
export interface CredentialsQuery {
  cursor?: string;
  replace?: string;
  stored?: string;
  deleted?: string;
}

interface MeAgent {
  actor_omni: string;
  label: string;
  generation: number | bigint;
  revoked: boolean;
  scope: { services: string[] };
}

/**
 * The operator's own credentials (`label` null) or those of every generation of its agent
 * `label`; null when the operator has no agent with that label (whether another operator has
 * one is not said).
 */
export async function load(
  deps: PageDeps,
  session: Session,
  label: string | null,
  query: CredentialsQuery = {},
): Promise<CredentialsData | null> {
  const me = await deps.broker.me(session);
  const viewer = { address: session.address, isAdmin: me.is_admin };
  const cursor = query.cursor !== undefined && isValidName(query.cursor) ? query.cursor : undefined;
  const targets: Omit<ActorCredentials, "items" | "nextCursor">[] = label === null
    ? [{ actorOmni: session.operatorOmni, title: "You", revoked: false, scope: [] }]
    : (me.agents as MeAgent[])
      .filter((a) => a.label === label)
      .sort((a, b) => Number(b.generation) - Number(a.generation))
      .map((a) => ({
        actorOmni: a.actor_omni,
        title: `${a.label} (generation ${a.generation})`,
        revoked: a.revoked,
        scope: a.scope.services.filter((s) => isValidName(s)),
      }));
  if (label !== null && targets.length === 0) return null;
  const actors = await Promise.all(targets.map(async (t) => {
    if (!deps.credentials) return { ...t, items: [], nextCursor: null };
    const page = await deps.credentials.list(session.operatorOmni, t.actorOmni, {
      cursor,
      limit: PAGE_SIZE,
    });
    return { ...t, items: page.items, nextCursor: page.next_cursor };
  }));
  return {
    viewer,
    operatorOmni: session.operatorOmni,
    label,
    actors,
    replace: query.replace !== undefined && isValidName(query.replace) ? query.replace : "",
    cursor: cursor ?? null,
    notice: query.stored !== undefined && isValidName(query.stored)
      ? `Stored ${query.stored}.`
      : query.deleted !== undefined && isValidName(query.deleted)
      ? `Deleted ${query.deleted}.`
      : "",
  };
}

/** `1,234 bytes`. */
export function formatSize(bytes: number): string {
  return `${bytes.toLocaleString("en")} ${bytes === 1 ? "byte" : "bytes"}`;
}

function pagePath(data: CredentialsData): string {
  return data.label === null ? "/credentials" : `/agents/${data.label}/credentials`;
}

function ActorSection(
  { data, actor, index }: { data: CredentialsData; actor: ActorCredentials; index: number },
): VNode {
  const base = pagePath(data);
  const titleId = `actor-${index}`;
  const writable = !actor.revoked;
  return (
    <section class="card" aria-labelledby={titleId}>
      <h2 id={titleId}>
        {actor.title}
        {actor.revoked && <span class="state revoked">revoked</span>}
      </h2>
      <p class="hint">
        Actor <code title={actor.actorOmni}>{actor.actorOmni}</code>
      </p>
      {actor.items.length === 0
        ? <p>{data.cursor ? "No more credentials." : "No credentials stored."}</p>
        : (
          <table class="creds">
            <caption class="visually-hidden">
              {data.label === null ? "Your credentials" : `Credentials of ${actor.title}`}: service,
              epoch, size and last update
            </caption>
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col" class="num">Epoch</th>
                <th scope="col" class="num">Size</th>
                <th scope="col">Last update</th>
                {writable && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {actor.items.map((item) => (
                <tr key={item.service}>
                  <th scope="row">{item.service}</th>
                  <td class="num">
                    {item.epoch ?? (
                      <span title="its epoch was destroyed or is unknown: it cannot be read">
                        unreadable
                      </span>
                    )}
                  </td>
                  <td class="num">{formatSize(item.size)}</td>
                  <td>
                    <time datetime={item.updated_at}>{formatTime(item.updated_at)}</time>
                  </td>
                  {writable && (
                    <td>
                      <div class="row-actions">
                        <a
                          href={`${base}?replace=${item.service}#store-${index}`}
                          aria-label={`Replace ${item.service}`}
                        >
                          Replace
                        </a>
                        <Island
                          component={DeleteCredential}
                          props={{
                            operatorOmni: data.operatorOmni,
                            actorOmni: actor.actorOmni,
                            service: item.service,
                            owner: actor.title,
                          }}
                        />
                      </div>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      {(actor.nextCursor || data.cursor) && (
        <nav aria-label={`More credentials of ${actor.title}`} class="actions">
          {data.cursor && <a href={base}>First page</a>}
          {actor.nextCursor && (
            <a href={`${base}?cursor=${encodeURIComponent(actor.nextCursor)}`}>Next page</a>
          )}
        </nav>
      )}
      {writable
        ? (
          <div id={`store-${index}`}>
            <h3>Store or replace a secret</h3>
            <Island
              component={StoreCredential}
              props={{
                operatorOmni: data.operatorOmni,
                actorOmni: actor.actorOmni,
                idPrefix: `store-${index}`,
                service: data.replace,
                suggestions: actor.scope,
              }}
            />
          </div>
        )
        : (
          <p class="hint">
            This agent is revoked: its credentials can no longer be written or deleted one by one.
            Purge the agent to delete them all.
          </p>
        )}
    </section>
  );
}

export default function CredentialsPage(data: CredentialsData): VNode {
  const title = data.label === null ? "Credentials" : `Credentials of ${data.label}`;
  return (
    <App
      title={title}
      viewer={data.viewer}
      current={data.label === null ? "/credentials" : "/agents"}
    >
      {data.label !== null && (
        <p class="crumbs">
          <a href="/agents">Agents</a> / <a href={`/agents/${data.label}`}>{data.label}</a>{" "}
          / credentials
        </p>
      )}
      <h1>{title}</h1>
      <p class="lead">
        {data.label === null
          ? "Secrets you keep for yourself."
          : `Secrets agent ${data.label} may fetch with its device key.`}
      </p>
      <p>
        Values are write-only: the console never shows, fetches or reveals a stored secret. To
        change one, store a new value under the same service.
      </p>
      {data.notice && <p class="notice ok" role="status">{data.notice}</p>}
      {data.actors.map((actor, i) => (
        <ActorSection key={actor.actorOmni} data={data} actor={actor} index={i} />
      ))}
    </App>
  );
}

/** `/agents/:label/credentials` for a label this operator has no agent under. */
export function NoAgentCredentialsPage(viewer: Viewer, label: string): VNode {
  return (
    <App title="No such agent" viewer={viewer} current="/agents">
      <h1>No agent {label}</h1>
      <p>
        You have no agent with this label. <a href="/agents">See your agents</a>.
      </p>
    </App>
  );
}
