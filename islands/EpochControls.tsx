/**
 * The admin's controls on `/epochs`: rotate K3 (`POST /v1/epochs/rotate`, confirmed first),
 * start a re-encryption job (`POST /v1/reencrypt/jobs`, then its live page) and drop a retiring
 * epoch (`POST /v1/epochs/:n/destroy`, confirmed first; the answer's `warning` about a supplied
 * seal key is shown). "Drop" is disabled, with the reason beside it, unless the latest global
 * census counted no blob under the epoch (the server decides that; the service refuses anyway).
 *
 * @module
 */

import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import { postJson } from "./_api.ts";

/** A retiring epoch and why it may not be dropped yet (`reason: null`: it may). */
export interface Droppable {
  epoch: number;
  reason: string | null;
  censusAt?: string;
}

export interface EpochControlsProps extends Record<string, unknown> {
  active: number;
  operatorOmni: string;
  retiring: number[];
  droppable: Droppable[];
  defaultConcurrency: number;
  maxConcurrency: number;
}

type Notice = { kind: "ok" | "error"; text: string; warning?: string } | null;

export default function EpochControls(props: EpochControlsProps) {
  const confirming = useSignal<"rotate" | number | null>(null);
  const busy = useSignal(false);
  const notice = useSignal<Notice>(null);
  const jobError = useSignal("");
  const rotateError = useSignal("");
  const dropped = useSignal<Record<number, true>>({});
  const confirmButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (confirming.value !== null) confirmButton.current?.focus();
  }, [confirming.value]);

  // A dropped epoch can no longer be re-encrypted from.
  const retiring = props.retiring.filter((e) => !dropped.value[e]);

  async function rotate() {
    busy.value = true;
    try {
      const r = await postJson<{ active: number }>("/v1/epochs/rotate");
      location.assign(`/epochs?rotated=${r.active}`);
    } catch (err) {
      rotateError.value = `The rotation failed: ${(err as Error).message}`;
      busy.value = false;
      confirming.value = null;
    }
  }

  async function drop(epoch: number) {
    busy.value = true;
    try {
      const r = await postJson<{ epoch: number; destroyed_at: string; warning?: string }>(
        `/v1/epochs/${epoch}/destroy`,
      );
      dropped.value = { ...dropped.value, [epoch]: true };
      notice.value = {
        kind: "ok",
        text: `Epoch ${r.epoch} is destroyed: its key is gone from the keystore.`,
        ...(r.warning ? { warning: r.warning } : {}),
      };
    } catch (err) {
      notice.value = {
        kind: "error",
        text: `Epoch ${epoch} was not dropped: ${(err as Error).message}`,
      };
    } finally {
      busy.value = false;
      confirming.value = null;
    }
  }

  async function startJob(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const fields = new FormData(form);
    const concurrency = Number(fields.get("concurrency"));
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > props.maxConcurrency) {
      jobError.value = `Concurrency must be a whole number from 1 to ${props.maxConcurrency}.`;
      return;
    }
    jobError.value = "";
    busy.value = true;
    try {
      const job = await postJson<{ job_id: string }>("/v1/reencrypt/jobs", {
        operator_omni: fields.get("scope") === "all" ? "all" : props.operatorOmni,
        old_epoch: Number(fields.get("old_epoch")),
        new_epoch: props.active,
        dry_run: fields.get("dry_run") === "on",
        concurrency,
      });
      location.assign(`/jobs/${encodeURIComponent(job.job_id)}`);
    } catch (err) {
      jobError.value = `The job did not start: ${(err as Error).message}`;
      busy.value = false;
    }
  }

  const confirm = (what: string, yes: string, onYes: () => void) => (
    <div class="confirm" role="group" aria-label={`Confirm: ${yes}`}>
      <p>{what}</p>
      <button
        type="button"
        class="danger"
        ref={confirmButton}
        onClick={onYes}
        disabled={busy.value}
      >
        {yes}
      </button>{" "}
      <button
        type="button"
        onClick={() =>
          confirming.value = null}
        disabled={busy.value}
      >
        Cancel
      </button>
    </div>
  );

  return (
    <>
      <section class="card" aria-labelledby="rotate-title">
        <h2 id="rotate-title">Rotate</h2>
        <p>
          A new epoch {props.active + 1} becomes active; epoch {props.active}{" "}
          starts retiring (still readable until dropped).
        </p>
        {confirming.value === "rotate"
          ? confirm(
            `Rotate now? New writes go to epoch ${props.active + 1} at once.`,
            `Rotate to epoch ${props.active + 1}`,
            rotate,
          )
          : (
            <div class="actions">
              <button type="button" onClick={() => confirming.value = "rotate"}>Rotate…</button>
            </div>
          )}
        <p class="notice error" role="alert">{rotateError.value}</p>
      </section>
      <section class="card" aria-labelledby="job-title">
        <h2 id="job-title">Re-encrypt</h2>
        {retiring.length === 0
          ? <p>Nothing to re-encrypt: no epoch is retiring.</p>
          : (
            <form onSubmit={startJob} class="stack" noValidate>
              <div class="row">
                <div class="field short">
                  <label for="old-epoch">From epoch</label>
                  <select id="old-epoch" name="old_epoch">
                    {retiring.map((e) => <option key={e} value={e}>{e}</option>)}
                  </select>
                </div>
                <div class="field short">
                  <label for="concurrency">Concurrency</label>
                  <input
                    id="concurrency"
                    name="concurrency"
                    type="number"
                    min={1}
                    max={props.maxConcurrency}
                    value={props.defaultConcurrency}
                    aria-describedby="job-error"
                  />
                </div>
              </div>
              <p>To epoch {props.active} (the active one).</p>
              <fieldset>
                <legend>Blobs of</legend>
                <label class="choice">
                  <input type="radio" name="scope" value="all" checked /> every operator
                </label>
                <label class="choice">
                  <input type="radio" name="scope" value="own" /> my agents and me
                </label>
              </fieldset>
              <label class="choice">
                <input type="checkbox" name="dry_run" checked />{" "}
                Dry run (list what would be re-encrypted, change nothing)
              </label>
              <div class="actions">
                <button type="submit" class="primary" disabled={busy.value}>Start job</button>
              </div>
              <p id="job-error" class="notice error" role="alert">{jobError.value}</p>
            </form>
          )}
      </section>
      <section class="card" aria-labelledby="drop-title">
        <h2 id="drop-title">Drop a retiring epoch</h2>
        {props.droppable.length === 0 ? <p>No epoch is retiring.</p> : (
          <ul class="drops">
            {props.droppable.map((d) =>
              dropped.value[d.epoch]
                ? <li key={d.epoch}>Epoch {d.epoch}: destroyed.</li>
                : (
                  <li key={d.epoch}>
                    {confirming.value === d.epoch
                      ? confirm(
                        `Destroy epoch ${d.epoch}? Its key is erased for good: anything still ` +
                          "under it becomes unreadable.",
                        `Destroy epoch ${d.epoch}`,
                        () => drop(d.epoch),
                      )
                      : (
                        <>
                          <button
                            type="button"
                            class="danger"
                            disabled={d.reason !== null || busy.value}
                            aria-describedby={`drop-${d.epoch}-why`}
                            onClick={() => confirming.value = d.epoch}
                          >
                            Drop epoch {d.epoch}
                          </button>{" "}
                          <span id={`drop-${d.epoch}-why`} class="hint">
                            {d.reason ?? "The latest census counted no blob under it."}
                          </span>
                        </>
                      )}
                  </li>
                )
            )}
          </ul>
        )}
        <div role="status">
          <p class={notice.value ? `notice ${notice.value.kind}` : "notice"}>
            {notice.value?.text}
          </p>
          {notice.value?.warning && (
            <p class="warning">
              <strong>Warning:</strong> {notice.value.warning}
            </p>
          )}
        </div>
      </section>
    </>
  );
}
