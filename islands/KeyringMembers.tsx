/**
 * Keyring membership, signed with the injected wallet: create a ring (`mode: "create"`), or add
 * and remove members of one (`mode: "ring"`). The wallet signs the member-key message (for the
 * operator's own X25519 key: only to create and to add, which unwrap or wrap a group key) and the
 * new ring record; the island checks the agent's published key against its registered device
 * before wrapping to it. On success the page reloads with the outcome in the query (names only).
 *
 * @module
 */

import { useSignal } from "@preact/signals";
import { isValidName } from "../lib/identity/mod.ts";
import { KeyringOperator } from "../lib/keyrings/mod.ts";
import { browserSeen, cookieTransport, walletSigner } from "./_keyring.ts";
import { USER_REJECTED, walletErrorCode } from "./_wallet.ts";

export interface KeyringMembersProps extends Record<string, unknown> {
  mode: "create" | "ring";
  ring: string;
  operatorAddress: string;
  /** The operator's agents by display name; revoked ones can only be removed. */
  agents: { label: string; actorOmni: string; deviceKeyHash: string; revoked: boolean }[];
  /** Current members' actor omnis. */
  members: string[];
}

function failure(err: unknown): string {
  if (walletErrorCode(err) === USER_REJECTED) {
    return "You declined in your wallet; nothing was changed.";
  }
  const e = err as { code?: string; message?: string };
  if (e.code === "member_key_not_found") {
    return "This agent has not published its keyring key yet: run `deno task cli keyring publish " +
      "--device-key <its key file>` on its host, then add it again.";
  }
  if (e.code === "record_rollback") {
    return "The service sent an older version of this ring than this browser saw before (it may " +
      "be replaying a record).";
  }
  if (e.code === "keyring_conflict") {
    return "The ring changed meanwhile (another change landed first); reload and try again.";
  }
  return e.message ?? String(err);
}

export default function KeyringMembers(props: KeyringMembersProps) {
  const busy = useSignal(false);
  const error = useSignal("");
  const ringName = useSignal("");
  const addWho = useSignal("");
  const withHistory = useSignal(false);

  async function run(action: (op: KeyringOperator) => Promise<string>) {
    error.value = "";
    busy.value = true;
    try {
      const signer = await walletSigner(props.operatorAddress);
      const op = await KeyringOperator.forWallet(cookieTransport, signer, browserSeen);
      location.assign(await action(op));
    } catch (err) {
      error.value = `Not changed: ${failure(err)}`;
      busy.value = false;
    }
  }

  if (props.mode === "create") {
    const create = (e: Event) => {
      e.preventDefault();
      const name = ringName.value.trim();
      if (!isValidName(name)) {
        error.value = "A ring name is lowercase letters, digits, '.', '_' or '-' (at most 64).";
        return;
      }
      run(async (op) => {
        await op.create(name);
        return `/keyrings/${encodeURIComponent(name)}?created=1`;
      });
    };
    return (
      <form class="stack" onSubmit={create}>
        <div class="field">
          <label for="ring-name">Ring name</label>
          <input
            id="ring-name"
            required
            autocomplete="off"
            spellcheck={false}
            value={ringName.value}
            onInput={(e) => ringName.value = (e.target as HTMLInputElement).value}
          />
        </div>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy.value} aria-busy={busy.value}>
            {busy.value ? "Waiting for the wallet…" : "Create ring"}
          </button>
        </div>
        <p class="notice error" role="alert">{error.value}</p>
      </form>
    );
  }

  const candidates = props.agents.filter((a) => !a.revoked && !props.members.includes(a.actorOmni));
  const removable = props.agents.filter((a) => props.members.includes(a.actorOmni));
  const add = (e: Event) => {
    e.preventDefault();
    const agent = candidates.find((a) => a.actorOmni === addWho.value) ?? candidates[0];
    if (!agent) return;
    run(async (op) => {
      await op.add(props.ring, agent.actorOmni, {
        deviceKeyHash: agent.deviceKeyHash,
        withHistory: withHistory.value,
      });
      return `${location.pathname}?added=${encodeURIComponent(agent.label)}`;
    });
  };
  const remove = (agent: { label: string; actorOmni: string }) => {
    if (!confirm(`Remove ${agent.label}? The group key is rotated; it keeps only what it read.`)) {
      return;
    }
    run(async (op) => {
      await op.removeMember(props.ring, agent.actorOmni);
      return `${location.pathname}?removed=${encodeURIComponent(agent.label)}`;
    });
  };
  return (
    <div class="stack">
      {candidates.length === 0
        ? <p>Every active agent is a member.</p>
        : (
          <form class="stack" onSubmit={add}>
            <div class="row">
              <div class="field">
                <label for="add-member">Agent to add</label>
                <select
                  id="add-member"
                  value={addWho.value || candidates[0].actorOmni}
                  onChange={(e) => addWho.value = (e.target as HTMLSelectElement).value}
                >
                  {candidates.map((a) => (
                    <option key={a.actorOmni} value={a.actorOmni}>{a.label}</option>
                  ))}
                </select>
              </div>
            </div>
            <label class="choice">
              <input
                type="checkbox"
                name="with-history"
                checked={withHistory.value}
                onChange={(e) => withHistory.value = (e.target as HTMLInputElement).checked}
              />
              Also give it the earlier group keys (documents from before it joined)
            </label>
            <div class="actions">
              <button type="submit" class="primary" disabled={busy.value} aria-busy={busy.value}>
                {busy.value ? "Waiting for the wallet…" : "Add member"}
              </button>
            </div>
          </form>
        )}
      {removable.length > 0 && (
        <ul class="plain">
          {removable.map((a) => (
            <li key={a.actorOmni}>
              <button
                type="button"
                class="danger"
                disabled={busy.value}
                onClick={() => remove(a)}
              >
                Remove {a.label}
              </button>
            </li>
          ))}
        </ul>
      )}
      <p class="notice error" role="alert">{error.value}</p>
    </div>
  );
}
