/**
 * A bounded worker pool over a stream: one producer pulls items from an async iterable into a
 * queue of fixed capacity, `concurrency` workers take from it. Memory stays flat however long
 * the stream is — at most `capacity` items wait, and the producer pauses while the queue is full.
 *
 * @module
 */

/** A FIFO queue of bounded size between one producer and many consumers. */
class Channel<T> {
  #items: T[] = [];
  #head = 0;
  #closed = false;
  #takers: ((item: T | undefined) => void)[] = [];
  #putters: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  get #size(): number {
    return this.#items.length - this.#head;
  }

  /** Resolves `false` once the channel is closed (the item was not queued). */
  async push(item: T): Promise<boolean> {
    while (this.#size >= this.capacity && !this.#closed) {
      await new Promise<void>((resolve) => this.#putters.push(resolve));
    }
    if (this.#closed) return false;
    const taker = this.#takers.shift();
    if (taker) taker(item);
    else this.#items.push(item);
    return true;
  }

  /** The next item, or `undefined` when the channel is closed and empty. */
  take(): Promise<T | undefined> {
    if (this.#size > 0) {
      const item = this.#items[this.#head++];
      // Compact now and then instead of shift(): shift is O(n) per call.
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      this.#putters.shift()?.();
      return Promise.resolve(item);
    }
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#takers.push(resolve));
  }

  /** No more pushes; waiting takers get `undefined`, waiting pushers `false`. */
  close(): void {
    this.#closed = true;
    for (const taker of this.#takers.splice(0)) taker(undefined);
    for (const putter of this.#putters.splice(0)) putter();
  }

  /** Drops what is queued (a stopping run must not start it). */
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

/** What {@linkcode drain} reports. */
export interface DrainResult {
  /** What the source threw, if it did; the items already queued were still worked. */
  sourceError?: unknown;
  /** What `work` threw first, if it did; no new items were taken after it. */
  workError?: unknown;
}

/**
 * Runs `work` over every item of `source` with at most `concurrency` in flight. Checks
 * `stopped()` before taking each item: once it says true, nothing new starts, in-flight work
 * settles, and the source is closed (its `return()` runs). Resolves when all of that is done.
 *
 * ```ts
 * await drain({
 *   source: store.list("bots/"),
 *   concurrency: 16,
 *   capacity: 256,
 *   stopped: () => signal.aborted,
 *   work: async (info) => { await store.getRange(info.key, 0, 0); },
 * });
 * ```
 */
export async function drain<T>(options: {
  source: AsyncIterable<T>;
  concurrency: number;
  capacity: number;
  stopped: () => boolean;
  work: (item: T) => Promise<void>;
}): Promise<DrainResult> {
  const channel = new Channel<T>(options.capacity);
  const result: DrainResult = {};
  const halted = () => result.workError !== undefined || options.stopped();
  const producer = (async () => {
    try {
      for await (const item of options.source) {
        if (halted() || !(await channel.push(item))) break;
      }
    } catch (err) {
      result.sourceError = err;
    } finally {
      channel.close();
    }
  })();
  const worker = async () => {
    for (;;) {
      if (halted()) return;
      const item = await channel.take();
      if (item === undefined || halted()) return;
      try {
        await options.work(item);
      } catch (err) {
        result.workError ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  // Workers that stopped early leave the producer possibly blocked on a full queue: release it.
  channel.close();
  channel.clear();
  await producer;
  return result;
}
