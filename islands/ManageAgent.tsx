/**
 * One agent's actions on `/agents/:label`, each a transaction from the operator's wallet:
 * its scope (`ScopeRegistry.setScope`, after teaching the service the names so views can show
 * them; `revokeScope`), its revocation (`AgentRegistry.revokeAgent`, confirmed first) and, once
 * revoked, "Purge data" (`POST /v1/agents/purge`, confirmed first). viem loads on first use.
 *
 * @module
 */

import { useSignal } from "@preact/signals";
import type { ComponentChildren, Ref } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { postJson } from "./_api.ts";
import { chainFailure, loadChain, parseServices } from "./_agents.ts";

export interface ManageAgentProps extends Record<string, unknown> {
  operator: string;
  label: string;
  generation: number;
  actorOmni: string;
  deviceKeyHash: string;
  revoked: boolean;
  /** Null when the agent has no scope on chain. */
  scope: { services: string[]; readOnly: boolean } | null;
}

type Notice = { kind: "error" | "info" | "ok"; text: string } | null;
type Confirming = "revoke" | "purge" | null;

export default function ManageAgent(props: ManageAgentProps) {
  const { operator, label, generation, actorOmni, deviceKeyHash } = props;
  const revoked = useSignal(props.revoked);
  const scope = useSignal(props.scope);
  const services = useSignal(props.scope?.services.join(", ") ?? "");
  const readOnly = useSignal(props.scope?.readOnly ?? false);
  const busy = useSignal(false);
  const notice = useSignal<Notice>(null);
  const tx = useSignal<string | null>(null);
  const confirming = useSignal<Confirming>(null);
  const purged = useSignal<number | null>(null);
  const confirmButton = useRef<HTMLButtonElement>(null);
  const id = `${label}-${generation}`;

  useEffect(() => {
    if (confirming.value) confirmButton.current?.focus();
  }, [confirming.value]);

  /** Sends one transaction: pending (hash), then confirmed or the reason it was refused. */
  async function send(
    what: string,
    action: (
      chain: typeof import("./_chain.ts"),
      op: Awaited<ReturnType<typeof import("./_chain.ts").operatorChain>>,
    ) => Promise<`0x${string}`>,
  ): Promise<boolean> {
    busy.value = true;
    tx.value = null;
    notice.value = { kind: "info", text: "Connecting to your wallet…" };
    try {
      const chain = await loadChain();
      const op = await chain.operatorChain(operator);
      notice.value = { kind: "info", text: `Confirm the ${what} in your wallet…` };
      const hash = await action(chain, op);
      tx.value = hash;
      notice.value = {
        kind: "info",
        text: `The ${what} was sent; waiting for it to be confirmed…`,
      };
      const { blockNumber } = await op.confirm(hash);
      notice.value = { kind: "ok", text: `The ${what} is confirmed in block ${blockNumber}.` };
      return true;
    } catch (err) {
      notice.value = { kind: "error", text: chainFailure(err, what) };
      return false;
    } finally {
      busy.value = false;
    }
  }

  async function saveScope() {
    const parsed = parseServices(services.value);
    if ("error" in parsed) {
      notice.value = { kind: "error", text: parsed.error };
      return;
    }
    const names = parsed.services;
    const ok = await send("scope change", (chain, op) =>
      chain.setScope(op.wallet, {
        address: op.info.contracts.ScopeRegistry.address,
        actorOmni: actorOmni as `0x${string}`,
        serviceHashes: names.map((s) => chain.serviceHash(s)),
        readOnly: readOnly.value,
      }));
    // The chain keeps only hashes; the service records the names once the scope holds them, so
    // pages can show them.
    if (ok && names.length > 0) {
      await postJson("/v1/services/names", { services: names }).catch((err) => {
        notice.value = {
          kind: "error",
          text: `The scope is set on chain, but the service did not record the names (${
            (err as Error).message
          }); they show as hashes until the scope is saved again.`,
        };
      });
    }
    if (ok) {
      scope.value = { services: names, readOnly: readOnly.value };
      services.value = names.join(", ");
    }
  }

  async function removeScope() {
    const ok = await send("scope removal", (chain, op) =>
      chain.revokeScope(op.wallet, {
        address: op.info.contracts.ScopeRegistry.address,
        actorOmni: actorOmni as `0x${string}`,
      }));
    if (ok) {
      scope.value = null;
      services.value = "";
      readOnly.value = false;
    }
  }

  async function revoke() {
    confirming.value = null;
    const ok = await send("revocation", (chain, op) =>
      chain.revokeAgent(op.wallet, {
        address: op.info.contracts.AgentRegistry.address,
        deviceKeyHash: deviceKeyHash as `0x${string}`,
      }));
    if (ok) revoked.value = true;
  }

  async function purge() {
    confirming.value = null;
    busy.value = true;
    tx.value = null;
    notice.value = { kind: "info", text: "Deleting the agent's data…" };
    try {
      const { deleted } = await postJson<{ deleted: number }>("/v1/agents/purge", {
        actor_omni: actorOmni,
      });
      purged.value = deleted;
      notice.value = {
        kind: "ok",
        text: `Purged: ${deleted} blob${deleted === 1 ? "" : "s"} of ${label} deleted.`,
      };
    } catch (err) {
      notice.value = { kind: "error", text: chainFailure(err, "purge") };
    } finally {
      busy.value = false;
    }
  }

  const current = scope.value;
  return (
    <div class="stack manage">
      <p class="agent-state">
        State: {revoked.value
          ? <span class="state revoked">revoked</span>
          : <span class="state active">active</span>}
      </p>
      {!revoked.value && (
        <form
          class="stack"
          aria-labelledby={`scope-title-${id}`}
          onSubmit={(e) => {
            e.preventDefault();
            if (!busy.value) saveScope();
          }}
        >
          <h3 id={`scope-title-${id}`}>Scope</h3>
          <p class="scope-now">
            {current
              ? (
                <>
                  Now: {current.services.length ? current.services.join(", ") : "no services"}
                  {current.readOnly ? " (read-only)" : ""}
                </>
              )
              : "No scope yet: this agent may use no service."}
          </p>
          <div class="field">
            <label for={`services-${id}`}>Services</label>
            <input
              id={`services-${id}`}
              name="services"
              autocomplete="off"
              spellcheck={false}
              aria-describedby={`services-hint-${id}`}
              value={services.value}
              onInput={(e) =>
                services.value = (e.target as HTMLInputElement).value}
            />
            <p id={`services-hint-${id}`} class="hint">
              Service names separated by commas or spaces, e.g. <code>openai, github</code>.
            </p>
          </div>
          <label class="choice">
            <input
              type="checkbox"
              name="read-only"
              checked={readOnly.value}
              onChange={(e) => readOnly.value = (e.target as HTMLInputElement).checked}
            />
            Read-only (the agent may read these credentials but not change them)
          </label>
          <div class="actions">
            <button type="submit" class="primary" disabled={busy.value}>Save scope</button>
            {current && (
              <button type="button" disabled={busy.value} onClick={removeScope}>
                Remove scope
              </button>
            )}
          </div>
        </form>
      )}
      <div class="stack danger-zone">
        <h3>{revoked.value ? "Data" : "Revocation"}</h3>
        {!revoked.value && confirming.value !== "revoke" && (
          <div class="actions">
            <button
              type="button"
              class="danger"
              disabled={busy.value}
              onClick={() => confirming.value = "revoke"}
            >
              Revoke {label}…
            </button>
          </div>
        )}
        {!revoked.value && confirming.value === "revoke" && (
          <Confirm
            id={`revoke-q-${id}`}
            yes={`Yes, revoke ${label}`}
            onYes={revoke}
            onCancel={() => confirming.value = null}
            buttonRef={confirmButton}
          >
            Revoke {label} (generation{" "}
            {generation})? Its device can no longer sign in or get credentials, its sessions end,
            and this cannot be undone.
          </Confirm>
        )}
        {revoked.value && purged.value === null && confirming.value !== "purge" && (
          <>
            <p>
              {label}{" "}
              is revoked. Its credentials, memory and inbound messages are still stored until you
              purge them.
            </p>
            <div class="actions">
              <button
                type="button"
                class="danger"
                disabled={busy.value}
                onClick={() => confirming.value = "purge"}
              >
                Purge data…
              </button>
            </div>
          </>
        )}
        {revoked.value && confirming.value === "purge" && (
          <Confirm
            id={`purge-q-${id}`}
            yes={`Yes, purge ${label}'s data`}
            onYes={purge}
            onCancel={() => confirming.value = null}
            buttonRef={confirmButton}
          >
            Delete every credential, memory and inbound message of {label} (generation{" "}
            {generation})? This cannot be undone.
          </Confirm>
        )}
      </div>
      {tx.value && (
        <p class="tx">
          Transaction <code class="hash" title={tx.value}>{tx.value}</code>
        </p>
      )}
      <p
        class={notice.value ? `notice ${notice.value.kind}` : "notice"}
        role={notice.value?.kind === "error" ? "alert" : "status"}
        aria-live="polite"
      >
        {notice.value?.text ?? ""}
      </p>
    </div>
  );
}

/** An inline "are you sure" group: the question, a danger button that confirms, and Cancel. */
function Confirm(props: {
  id: string;
  yes: string;
  onYes: () => void;
  onCancel: () => void;
  buttonRef: Ref<HTMLButtonElement>;
  children: ComponentChildren;
}) {
  return (
    <div class="confirm" role="group" aria-labelledby={props.id}>
      <p id={props.id}>{props.children}</p>
      <div class="actions">
        <button ref={props.buttonRef} type="button" class="danger" onClick={props.onYes}>
          {props.yes}
        </button>
        <button type="button" onClick={props.onCancel}>Cancel</button>
      </div>
    </div>
  );
}
