import type { Frame, ResyncFrame } from "./frame.ts";
import { RingBuffer } from "./ring_buffer.ts";

/** Options for {@linkcode FanOut}. */
export interface FanOutOptions {
  /** Frames queued per subscriber before its backlog is dropped. @default {1000} */
  highWaterMark?: number;
  /** Called when a channel gets its first subscriber. */
  onFirstSubscriber?: (channel: string) => void;
  /** Called when a channel's last subscriber has gone. */
  onLastSubscriber?: (channel: string) => void;
  /** Called when a subscriber's backlog of `dropped` frames was dropped. */
  onOverflow?: (channel: string, dropped: number) => void;
}

/** Options for one subscriber stream. */
export interface SubscribeOptions {
  /** Closes the stream and unsubscribes when aborted. */
  signal?: AbortSignal;
  /** Overrides the fan-out's `highWaterMark` for this subscriber. */
  highWaterMark?: number;
}

// Frames handed to a stream per pull: enough to amortise the pull, few enough
// that the stream's own queue (which slows down with depth) stays short.
const PULL_BATCH = 64;

/**
 * Distributes batches of frames to one bounded queue per subscriber. A slow
 * subscriber never blocks the others and never grows without bound: when its
 * queue is full its backlog is dropped and it is handed a resync frame with
 * reason `overflow`, ahead of what arrives next.
 *
 * @example Every subscriber of a channel gets every frame
 * ```ts
 * import { FanOut } from "./fan_out.ts";
 * const fanOut = new FanOut();
 * const a = fanOut.subscribe("news").getReader();
 * const writer = fanOut.writable.getWriter();
 * await writer.write([{ type: "event", channel: "news", message: "hi" }]);
 * const { value } = await a.read();
 * if (value?.type !== "event" || value.message !== "hi") throw new Error();
 * ```
 */
export class FanOut {
  /** Where batches of frames are written to be distributed. */
  readonly writable: WritableStream<Frame[]>;
  /** Events accepted for delivery, events dropped on overflow, resync frames handed out. */
  readonly stats = { delivered: 0, dropped: 0, resyncs: 0 };
  readonly #options: FanOutOptions;
  readonly #channels = new Map<string, Set<Subscriber>>();

  constructor(options: FanOutOptions = {}) {
    this.#options = options;
    this.writable = new WritableStream({ write: (batch) => this.deliver(batch) });
  }

  /** The channels that have at least one subscriber. */
  channels(): IterableIterator<string> {
    return this.#channels.keys();
  }

  /** How many subscriber streams are open. */
  get size(): number {
    let size = 0;
    for (const set of this.#channels.values()) size += set.size;
    return size;
  }

  /** Hands a batch to every subscriber of each frame's channel. */
  deliver(batch: readonly Frame[]): void {
    for (const frame of batch) {
      const subscribers = this.#channels.get(frame.channel);
      if (subscribers === undefined) continue;
      for (const subscriber of subscribers) subscriber.push(frame);
    }
  }

  /** Opens a stream of the frames on `channel`. */
  subscribe(channel: string, options: SubscribeOptions = {}): ReadableStream<Frame> {
    const { signal } = options;
    const capacity = options.highWaterMark ?? this.#options.highWaterMark ?? 1000;
    let subscriber!: Subscriber;
    const stream = new ReadableStream<Frame>({
      start: (controller) => {
        subscriber = new Subscriber(channel, capacity, controller, this.stats, this.#options);
      },
      pull: () => subscriber.pull(),
      cancel: () => this.#remove(subscriber),
    }, { highWaterMark: 0 });
    if (signal?.aborted) {
      subscriber.close();
      return stream;
    }
    let set = this.#channels.get(channel);
    if (set === undefined) {
      set = new Set();
      this.#channels.set(channel, set);
      this.#options.onFirstSubscriber?.(channel);
    }
    set.add(subscriber);
    if (signal) {
      const onAbort = () => {
        this.#remove(subscriber);
        subscriber.close();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      subscriber.detach = () => signal.removeEventListener("abort", onAbort);
    }
    return stream;
  }

  /** Ends every subscriber stream cleanly, after what is queued. */
  close(): void {
    this.#endAll((subscriber) => subscriber.close());
  }

  /** Errors every subscriber stream with `reason`, at once. */
  error(reason: unknown): void {
    this.#endAll((subscriber) => subscriber.error(reason));
  }

  #endAll(end: (subscriber: Subscriber) => void): void {
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    for (const set of channels) {
      for (const subscriber of set) {
        subscriber.detach();
        end(subscriber);
      }
    }
  }

  #remove(subscriber: Subscriber): void {
    subscriber.detach();
    const set = this.#channels.get(subscriber.channel);
    if (!set?.delete(subscriber) || set.size > 0) return;
    this.#channels.delete(subscriber.channel);
    this.#options.onLastSubscriber?.(subscriber.channel);
  }
}

class Subscriber {
  detach: () => void = () => {};
  readonly #queue: RingBuffer<Frame>;
  #waiting = false;
  #closing = false;
  #resyncQueued = false;

  constructor(
    readonly channel: string,
    readonly capacity: number,
    readonly controller: ReadableStreamDefaultController<Frame>,
    readonly stats: FanOut["stats"],
    readonly options: FanOutOptions,
  ) {
    this.#queue = new RingBuffer(capacity + 1);
  }

  push(frame: Frame): void {
    if (this.#closing) return;
    if (frame.type === "resync" && this.#resyncQueued) return; // one is already waiting
    if (frame.type === "resync") this.stats.resyncs++;
    else this.stats.delivered++;
    if (this.#waiting) {
      this.#waiting = false;
      this.controller.enqueue(frame);
      return;
    }
    if (this.#queue.length >= this.capacity) this.#overflow();
    if (frame.type === "resync") this.#resyncQueued = true;
    this.#queue.push(frame);
  }

  pull(): void {
    const queue = this.#queue;
    if (queue.length === 0) {
      if (this.#closing) this.controller.close();
      else this.#waiting = true;
      return;
    }
    for (let i = 0; i < PULL_BATCH && queue.length > 0; i++) {
      const frame = queue.shift()!;
      if (frame.type === "resync") this.#resyncQueued = false;
      this.controller.enqueue(frame);
    }
    if (queue.length === 0 && this.#closing) this.controller.close();
  }

  close(): void {
    this.#closing = true;
    if (this.#waiting || this.#queue.length === 0) {
      this.#waiting = false;
      try {
        this.controller.close();
      } catch { /* already closed or cancelled */ }
    }
  }

  error(reason: unknown): void {
    this.#closing = true;
    this.#queue.clear();
    try {
      this.controller.error(reason);
    } catch { /* already closed or cancelled */ }
  }

  #overflow(): void {
    const dropped = this.#queue.length - (this.#resyncQueued ? 1 : 0);
    this.#queue.clear();
    this.stats.dropped += dropped;
    this.stats.delivered -= dropped;
    if (!this.#resyncQueued) this.stats.resyncs++;
    const resync: ResyncFrame = { type: "resync", channel: this.channel, reason: "overflow" };
    this.#queue.push(resync);
    this.#resyncQueued = true;
    this.options.onOverflow?.(this.channel, dropped);
  }
}
