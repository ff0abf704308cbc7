/**
 * "Add an agent" on `/agents`: the operator's wallet sends `AgentRegistry.registerAgent` for a
 * label, a generation and a device, which is either
 * - a key generated here (viem's `generatePrivateKey`), offered once as a `<label>-<gen>.key`
 *   download in `deno task cli agent add`'s format and never sent anywhere; or
 * - an address and proof of possession pasted from `deno task cli agent init` (the key stays on
 *   the agent's machine).
 * The transaction shows as pending (its hash), then confirmed (receipt through the service's
 * RPC proxy) or refused with the contract's reason. viem's wallet code loads only on submit.
 *
 * @module
 */

import { useSignal } from "@preact/signals";
import { chainFailure, checkAddAgent, keyFileName, keyFileText, loadChain } from "./_agents.ts";

export interface AddAgentProps extends Record<string, unknown> {
  /** The signed-in operator's address: the wallet must be on this account. */
  operator: string;
  operatorOmni: string;
  /** The next free generation of each label in use (a new label starts at 0). */
  nextGeneration: Record<string, number>;
}

type Notice = { kind: "error" | "info" | "ok"; text: string } | null;
type Field = "label" | "generation" | "address" | "pop";

export default function AddAgent({ operator, operatorOmni, nextGeneration }: AddAgentProps) {
  const label = useSignal("");
  const generation = useSignal("0");
  const generationTouched = useSignal(false);
  const mode = useSignal<"generate" | "paste">("generate");
  const address = useSignal("");
  const pop = useSignal("");
  const busy = useSignal(false);
  const notice = useSignal<Notice>(null);
  const invalid = useSignal<Field | null>(null);
  const tx = useSignal<string | null>(null);
  const done = useSignal<{ label: string; generation: number } | null>(null);

  async function submit() {
    const input = checkAddAgent({
      label: label.value,
      generation: generation.value,
      mode: mode.value,
      address: address.value,
      pop: pop.value,
    });
    if (!input.ok) {
      invalid.value = input.field;
      notice.value = { kind: "error", text: input.error };
      document.getElementById(`agent-${input.field}`)?.focus();
      return;
    }
    invalid.value = null;
    busy.value = true;
    tx.value = null;
    done.value = null;
    let downloaded: string | null = null;
    notice.value = { kind: "info", text: "Connecting to your wallet…" };
    try {
      const chain = await loadChain();
      const op = await chain.operatorChain(operator);
      const registry = op.info.contracts.AgentRegistry.address;
      const popParams = {
        chainId: op.info.chain_id,
        registry,
        operatorOmni,
        label: input.label,
        generation: input.generation,
      };
      let deviceAddress: string;
      let devicePop: `0x${string}`;
      if (input.device.kind === "generate") {
        const device = chain.newDevice();
        deviceAddress = device.account.address;
        devicePop = await chain.signDevicePop(device.account, popParams);
        // Before the transaction, as the CLI does: a registered device whose key was lost is
        // useless. The key lives only in this function and in the file the browser saves.
        downloaded = keyFileName(input.label, input.generation);
        offerDownload(downloaded, keyFileText(device.key));
      } else {
        deviceAddress = input.device.address;
        devicePop = input.device.pop as `0x${string}`;
      }
      notice.value = { kind: "info", text: "Confirm the registration in your wallet…" };
      const hash = await chain.registerAgent(op.wallet, {
        address: registry,
        label: input.label,
        generation: input.generation,
        deviceKeyHash: chain.deviceKeyHash(deviceAddress),
        devicePop,
      });
      tx.value = hash;
      notice.value = { kind: "info", text: "Registration sent; waiting for it to be confirmed…" };
      const { blockNumber } = await op.confirm(hash);
      done.value = { label: input.label, generation: input.generation };
      notice.value = {
        kind: "ok",
        text: `${input.label} (generation ${input.generation}) is registered, confirmed in block ` +
          `${blockNumber}.${downloaded ? ` Keep ${downloaded} safe: it is the only copy.` : ""}`,
      };
    } catch (err) {
      notice.value = {
        kind: "error",
        text: chainFailure(err, "registration") +
          (downloaded ? ` The downloaded ${downloaded} was not registered; delete it.` : ""),
      };
    } finally {
      busy.value = false;
    }
  }

  function onLabel(value: string) {
    label.value = value;
    // The next free generation follows the label until the operator sets one.
    if (!generationTouched.value) generation.value = String(nextGeneration[value.trim()] ?? 0);
  }

  const errorFor = (field: Field) =>
    invalid.value === field
      ? { "aria-invalid": true, "aria-errormessage": "add-agent-notice" }
      : {};

  return (
    <form
      class="stack"
      aria-labelledby="add-agent-title"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        if (!busy.value) submit();
      }}
    >
      <div class="row">
        <div class="field">
          <label for="agent-label">Label</label>
          <input
            id="agent-label"
            name="label"
            autocomplete="off"
            spellcheck={false}
            aria-describedby="agent-label-hint"
            value={label.value}
            onInput={(e) => onLabel((e.target as HTMLInputElement).value)}
            {...errorFor("label")}
          />
          <p id="agent-label-hint" class="hint">Lowercase letters, digits and hyphens.</p>
        </div>
        <div class="field short">
          <label for="agent-generation">Generation</label>
          <input
            id="agent-generation"
            name="generation"
            inputMode="numeric"
            autocomplete="off"
            aria-describedby="agent-generation-hint"
            value={generation.value}
            onInput={(e) => {
              generationTouched.value = true;
              generation.value = (e.target as HTMLInputElement).value;
            }}
            {...errorFor("generation")}
          />
          <p id="agent-generation-hint" class="hint">Next free one by default.</p>
        </div>
      </div>
      <fieldset>
        <legend>Device key</legend>
        <label class="choice">
          <input
            type="radio"
            name="device-mode"
            value="generate"
            checked={mode.value === "generate"}
            onChange={() => mode.value = "generate"}
          />
          Generate it in this browser (downloaded once as a <code>.key</code>{" "}
          file, never sent to the service)
        </label>
        <label class="choice">
          <input
            type="radio"
            name="device-mode"
            value="paste"
            checked={mode.value === "paste"}
            onChange={() => mode.value = "paste"}
          />
          Paste a device address and proof from <code>deno task cli agent init</code>
        </label>
      </fieldset>
      {mode.value === "paste" && (
        <div class="stack">
          <p class="hint">
            On the agent's machine run{" "}
            <code>
              deno task cli agent init --label {label.value.trim() || "LABEL"} --generation{" "}
              {generation.value.trim() || "0"} --operator {operator}
            </code>{" "}
            and paste what it prints.
          </p>
          <div class="field">
            <label for="agent-address">Device address</label>
            <input
              id="agent-address"
              name="device-address"
              autocomplete="off"
              spellcheck={false}
              value={address.value}
              onInput={(e) => address.value = (e.target as HTMLInputElement).value}
              {...errorFor("address")}
            />
          </div>
          <div class="field">
            <label for="agent-pop">Device proof (device pop)</label>
            <input
              id="agent-pop"
              name="device-pop"
              autocomplete="off"
              spellcheck={false}
              value={pop.value}
              onInput={(e) => pop.value = (e.target as HTMLInputElement).value}
              {...errorFor("pop")}
            />
          </div>
        </div>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy.value} aria-busy={busy.value}>
          Register agent
        </button>
      </div>
      {tx.value && (
        <p class="tx">
          Transaction <code class="hash" title={tx.value}>{tx.value}</code>
        </p>
      )}
      <p
        id="add-agent-notice"
        class={notice.value ? `notice ${notice.value.kind}` : "notice"}
        role={notice.value?.kind === "error" ? "alert" : "status"}
        aria-live="polite"
      >
        {notice.value?.text ?? ""}
      </p>
      {done.value && (
        <p>
          <a href={`/agents/${done.value.label}`}>Open {done.value.label}</a> to set its scope, or
          {" "}
          <a href="/agents">reload the list</a>.
        </p>
      )}
    </form>
  );
}

/** Saves `text` as `name` through a temporary object URL (the page keeps no copy). */
function offerDownload(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/octet-stream" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
