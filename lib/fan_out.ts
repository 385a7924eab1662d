import type { Frame, ResyncFrame } from "./frame.ts";
import { RingBuffer } from "./ring_buffer.ts";

/** Options for {@linkcode FanOut}. */
export interface FanOutOptions {
  /** How far a subscriber may lag, in frames, before its backlog is dropped. @default {1000} */
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
 * Distributes batches of frames to one queue per subscriber. A slow
 * subscriber never blocks the others and never grows without bound; the bound
 * is on how far it *lags*, not on how large one batch was. A batch is queued
 * whole, and once the tick's work is done (the next macrotask, when a reader
 * that keeps up has drained its queue) a subscriber still holding more than
 * `highWaterMark` frames has its backlog dropped and is handed a resync frame
 * with reason `overflow`, ahead of what arrives next.
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
  /** Subscribers that held more than their bound at the end of a delivery. */
  readonly #lagging = new Set<Subscriber>();
  #sweep: ReturnType<typeof setTimeout> | undefined;

  /** Makes a fan-out with no subscribers; `options` sets the lag bound and the callbacks. */
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
      for (const subscriber of subscribers) {
        if (subscriber.push(frame)) this.#lagging.add(subscriber);
      }
    }
    if (this.#lagging.size > 0) this.#sweep ??= setTimeout(() => this.#dropLagging(), 0);
  }

  /** Opens a stream of the frames on `channel`. */
  subscribe(channel: string, options: SubscribeOptions = {}): ReadableStream<Frame> {
    const { signal } = options;
    const capacity = options.highWaterMark ?? this.#options.highWaterMark ?? 1000;
    let subscriber!: Subscriber;
    const stream = new ReadableStream<Frame>({
      start: (controller) => {
        subscriber = new Subscriber(channel, capacity, controller, this.stats);
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

  #dropLagging(): void {
    this.#sweep = undefined;
    for (const subscriber of this.#lagging) {
      const dropped = subscriber.dropIfLagging();
      if (dropped > 0) this.#options.onOverflow?.(subscriber.channel, dropped);
    }
    this.#lagging.clear();
  }

  #endAll(end: (subscriber: Subscriber) => void): void {
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    this.#lagging.clear();
    clearTimeout(this.#sweep);
    this.#sweep = undefined;
    for (const set of channels) {
      for (const subscriber of set) {
        subscriber.detach();
        end(subscriber);
      }
    }
  }

  #remove(subscriber: Subscriber): void {
    subscriber.detach();
    this.#lagging.delete(subscriber);
    const set = this.#channels.get(subscriber.channel);
    if (!set?.delete(subscriber) || set.size > 0) return;
    this.#channels.delete(subscriber.channel);
    this.#options.onLastSubscriber?.(subscriber.channel);
  }
}

class Subscriber {
  detach: () => void = () => {};
  readonly channel: string;
  readonly #capacity: number;
  readonly #controller: ReadableStreamDefaultController<Frame>;
  readonly #stats: FanOut["stats"];
  readonly #queue = new RingBuffer<Frame>(Number.MAX_SAFE_INTEGER);
  #waiting = false;
  #closing = false;
  #resyncQueued = false;

  constructor(channel: string, capacity: number, controller: ReadableStreamDefaultController<Frame>, stats: FanOut["stats"]) {
    this.channel = channel;
    this.#capacity = capacity;
    this.#controller = controller;
    this.#stats = stats;
  }

  /** Queues `frame`; true when the queue now holds more than the bound. */
  push(frame: Frame): boolean {
    if (this.#closing) return false;
    if (frame.type === "resync" && this.#resyncQueued) return false; // one is already waiting
    if (frame.type === "resync") this.#stats.resyncs++;
    else this.#stats.delivered++;
    if (this.#waiting) {
      this.#waiting = false;
      this.#controller.enqueue(frame);
      return false;
    }
    if (frame.type === "resync") this.#resyncQueued = true;
    this.#queue.push(frame);
    return this.#queue.length > this.#capacity;
  }

  pull(): void {
    const queue = this.#queue;
    if (queue.length === 0) {
      if (this.#closing) this.#controller.close();
      else this.#waiting = true;
      return;
    }
    for (let i = 0; i < PULL_BATCH && queue.length > 0; i++) {
      const frame = queue.shift()!;
      if (frame.type === "resync") this.#resyncQueued = false;
      this.#controller.enqueue(frame);
    }
    if (queue.length === 0 && this.#closing) this.#controller.close();
  }

  close(): void {
    this.#closing = true;
    if (this.#waiting || this.#queue.length === 0) {
      this.#waiting = false;
      try {
        this.#controller.close();
      } catch { /* already closed or cancelled */ }
    }
  }

  error(reason: unknown): void {
    this.#closing = true;
    this.#queue.clear();
    try {
      this.#controller.error(reason);
    } catch { /* already closed or cancelled */ }
  }

  /** Drops the backlog if the subscriber still lags beyond its bound; returns how many events went. */
  dropIfLagging(): number {
    if (this.#closing || this.#queue.length <= this.#capacity) return 0;
    const dropped = this.#queue.length - (this.#resyncQueued ? 1 : 0);
    this.#queue.clear();
    this.#stats.dropped += dropped;
    this.#stats.delivered -= dropped;
    if (!this.#resyncQueued) this.#stats.resyncs++;
    const resync: ResyncFrame = { type: "resync", channel: this.channel, reason: "overflow" };
    this.#queue.push(resync);
    this.#resyncQueued = true;
    return dropped;
  }
}
