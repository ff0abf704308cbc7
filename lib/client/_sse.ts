/**
 * A small incremental parser for `text/event-stream` (the WHATWG server-sent events format),
 * enough for the job event stream: `id`, `event`, `data` (multi-line joined with `\n`),
 * comments, and any of `\r\n`, `\r`, `\n` as line ends, split anywhere across chunks.
 *
 * @module
 */

/** One dispatched event. `id` is the last id seen (it persists across events, per the spec). */
export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * Feed text as it arrives; complete events come back.
 *
 * ```ts
 * const parser = new SseParser();
 * parser.push("id: 1\nevent: blob\ndata: {\"key\":\"k\"}\n\n"); // [{ id: "1", event: "blob", … }]
 * ```
 */
export class SseParser {
  #buffer = "";
  #data: string[] = [];
  #event = "";
  #lastId: string | undefined;
  #sawCr = false;

  /** The id of the last event seen, for a `Last-Event-ID` reconnect. */
  get lastId(): string | undefined {
    return this.#lastId;
  }

  push(chunk: string): SseMessage[] {
    const out: SseMessage[] = [];
    // A "\r\n" split across chunks: the "\n" was already consumed with the "\r".
    if (this.#sawCr && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.#sawCr = false;
    this.#buffer += chunk;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (!match) break;
      // A lone "\r" at the very end may be the first half of "\r\n".
      if (match[0] === "\r" && match.index === this.#buffer.length - 1) {
        this.#sawCr = true;
      }
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      const message = this.#line(line);
      if (message) out.push(message);
    }
    return out;
  }

  #line(line: string): SseMessage | undefined {
    if (line === "") {
      if (this.#data.length === 0) {
        this.#event = "";
        return undefined;
      }
      const message: SseMessage = {
        ...(this.#lastId === undefined ? {} : { id: this.#lastId }),
        event: this.#event || "message",
        data: this.#data.join("\n"),
      };
      this.#data = [];
      this.#event = "";
      return message;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.#data.push(value);
    else if (field === "event") this.#event = value;
    else if (field === "id" && !value.includes("\0")) this.#lastId = value;
    return undefined;
  }
}
