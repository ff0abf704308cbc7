/**
 * The epochs table the overview and the epochs page share (epoch, state, creation, blobs from
 * the latest census, optionally a bar per epoch), and the console's one time format.
 *
 * @module
 */

import type { VNode } from "preact";

/** One row: an epoch and what the latest census counted under it (null: no census). */
export interface EpochRow {
  epoch: number;
  state: string;
  createdAt: string;
  blobs: number | null;
}

/** `2026-03-02 14:05 UTC` (the `datetime` attribute keeps the exact instant). */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** A job's `Started` and, once it ended, `Finished`, as entries of a definition list. */
export function JobTimes(
  { started, finished }: { started: string; finished?: string | null },
): VNode {
  return (
    <>
      <dt>Started</dt>
      <dd>
        <time datetime={started}>{formatTime(started)}</time>
      </dd>
      {finished && (
        <>
          <dt>Finished</dt>
          <dd>
            <time datetime={finished}>{formatTime(finished)}</time>
          </dd>
        </>
      )}
    </>
  );
}

const BAR_WIDTH = 160;

/** A decorative bar (the number beside it in the table is what assistive technology reads). */
function Bar({ value, max }: { value: number; max: number }): VNode {
  const width = max === 0 ? 0 : Math.max(value > 0 ? 2 : 0, Math.round(value / max * BAR_WIDTH));
  return (
    <svg
      class="bar"
      width={BAR_WIDTH}
      height="14"
      viewBox={`0 0 ${BAR_WIDTH} 14`}
      aria-hidden="true"
      focusable="false"
    >
      <rect class="bar-track" x="0" y="0" width={BAR_WIDTH} height="14" rx="3" />
      <rect class="bar-fill" x="0" y="0" width={width} height="14" rx="3" />
    </svg>
  );
}

/**
 * ```tsx
 * <EpochTable epochs={rows} bars />
 * ```
 */
export function EpochTable({ epochs, bars = false }: { epochs: EpochRow[]; bars?: boolean }) {
  const max = Math.max(0, ...epochs.map((e) => e.blobs ?? 0));
  return (
    <table class="epochs">
      <caption class="visually-hidden">Epochs, their states and blobs</caption>
      <thead>
        <tr>
          <th scope="col">Epoch</th>
          <th scope="col">State</th>
          <th scope="col">Created</th>
          <th scope="col" class="num">Blobs</th>
          {bars && (
            <th scope="col">
              <span class="visually-hidden">Share of blobs</span>
            </th>
          )}
        </tr>
      </thead>
      <tbody>
        {epochs.map((e) => (
          <tr key={e.epoch}>
            <th scope="row">{e.epoch}</th>
            <td>
              <span class={`state ${e.state}`}>{e.state}</span>
            </td>
            <td>
              <time datetime={e.createdAt}>{formatTime(e.createdAt)}</time>
            </td>
            <td class="num">{e.blobs === null ? "—" : e.blobs.toLocaleString("en")}</td>
            {bars && <td>{e.blobs !== null && <Bar value={e.blobs} max={max} />}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
