import { type EventFrame, type Frame, type Recovery, resyncFrame } from "../contract/frame.ts";
import { comparePositions, epochOf, sameLog } from "../contract/position.ts";
import type { CatchUpTarget } from "../history/catch_up.ts";
import { Origins } from "../history/origins.ts";
import { RingBuffer } from "../util/ring_buffer.ts";
import { Subscriber, type SubscriberStats } from "./subscriber.ts";

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
  /**
   * History mode: fills `target` with the events of its channel after
   * `after` (from the oldest kept when undefined), then releases it to live
   * events. Called for a subscriber that starts at a position, and for one
   * whose backlog was dropped, instead of handing it a resync frame. What
   * history cannot fill ends in a resync frame with reason `unfilled`.
   */
  catchUp?: (target: CatchUpTarget, after: string | undefined, unfilled: "gap" | "overflow") => void;
  /** History mode: the backbone said it no longer keeps what `channel` missed (a resync frame, reason `gap`). */
  onGap?: (channel: string) => void;
}

/** Options for one subscriber stream. */
export interface SubscribeOptions {
  /** Closes the stream and unsubscribes when aborted. */
  signal?: AbortSignal;
  /** Overrides the fan-out's `highWaterMark` for this subscriber. */
  highWaterMark?: number;
  /**
   * History mode: where the stream starts. An event's `id` starts right
   * after that event; `"oldest"` at the oldest event kept; `"new"` (the
   * default) with events published from now on. A position no longer kept
   * starts with a resync frame (`gap`), then the oldest kept.
   */
  since?: string;
}

/**
 * A subscriber stream. `recovery` settles once it knows whether it got
 * everything after where it started: at once for a stream that starts with
 * what is new; for one that starts at a position (`since`) once history has
 * been read from there (history mode).
 */
export interface Subscription extends ReadableStream<Frame> {
  /** Whether the stream got everything after where it started; see {@linkcode Recovery}. */
  readonly recovery: Promise<Recovery>;
}

/** History mode: how many of a channel's last events a catch-up can know came before where it starts. */
const RECENT = 1024;


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
  readonly #stats: SubscriberStats = { delivered: 0, dropped: 0, resyncs: 0, refilled: 0 };
  /** History mode: the position of each subscribed channel, the last event's id or where its subscription started. */
  readonly #positions = new Map<string, string>();
  readonly #options: FanOutOptions;
  readonly #channels = new Map<string, Set<Subscriber>>();
  /** Subscribers that held more than their bound at the end of a delivery. */
  readonly #lagging = new Set<Subscriber>();
  /** History mode: the copies of a publish sent twice are dropped. */
  readonly #origins = new Origins();
  /**
   * History mode: the last events of each channel (id and origin only), so
   * that a catch-up from a recent position knows what came before it: the
   * copy of a publish whose original it starts after is dropped too.
   */
  readonly #recent = new Map<string, RingBuffer<EventFrame>>();
  /** History mode: channels whose subscribers were told of a gap since their last event. */
  readonly #gapped = new Set<string>();
  #sweep: ReturnType<typeof setTimeout> | undefined;

  /** Makes a fan-out with no subscribers; `options` sets the lag bound and the callbacks. */
  constructor(options: FanOutOptions = {}) {
    this.#options = options;
    this.writable = new WritableStream({ write: (batch) => this.deliver(batch) });
  }

  /** Events accepted for delivery, events dropped on overflow, resync frames handed out, events dropped and read again (history mode). */
  get stats(): { readonly delivered: number; readonly dropped: number; readonly resyncs: number; readonly refilled: number } {
    return { ...this.#stats };
  }

  /**
   * History mode: whether the link said `channel`'s gap could not be filled
   * (a resync frame, `gap`) and no event came since: its position is then
   * one the log has lost, and the link went on from the oldest it kept.
   */
  gapped(channel: string): boolean {
    return this.#gapped.has(channel);
  }

  /** History mode: where a subscribed channel stands (its last event's id, or where its subscription started). */
  position(channel: string): string | undefined {
    return this.#positions.get(channel);
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

  /**
   * Hands a batch to every subscriber of each frame's channel. In history
   * mode, an event at or before its channel's position is not handed out again.
   */
  deliver(batch: readonly Frame[]): void {
    for (const frame of batch) {
      const subscribers = this.#channels.get(frame.channel);
      if (subscribers === undefined) continue;
      if (frame.type === "resync" && frame.reason === "gap") {
        this.#options.onGap?.(frame.channel);
        this.#gapped.add(frame.channel);
      }
      let before: string | undefined;
      if (frame.type === "event" && frame.id !== undefined) {
        before = this.#positions.get(frame.channel);
        if (before !== undefined && !sameLog(frame.id, before)) this.#replaced(frame.channel, subscribers);
        else if (before !== undefined && comparePositions(frame.id, before) <= 0) continue;
        this.#gapped.delete(frame.channel);
        this.#positions.set(frame.channel, frame.id);
        if (!this.#origins.first(frame)) continue;
        if (frame.origin !== undefined) this.#remember(frame.channel, frame.id, frame.origin);
      }
      for (const subscriber of subscribers) {
        if (subscriber.push(frame, before)) this.#lagging.add(subscriber);
      }
    }
    if (this.#lagging.size > 0) this.#sweep ??= setTimeout(() => this.#dropLagging(), 0);
  }

  /**
   * History mode: an event of another log (another epoch) than the channel's
   * position came without a gap frame before it: the log was made again
   * under the link. What the old log held past the position is gone: a gap.
   */
  #replaced(channel: string, subscribers: Set<Subscriber>): void {
    if (this.#gapped.has(channel)) return; // the link said so already
    this.#options.onGap?.(channel);
    const gap = resyncFrame(channel, "gap");
    for (const subscriber of subscribers) subscriber.push(gap);
  }

  #remember(channel: string, id: string, origin: string): void {
    let recent = this.#recent.get(channel);
    if (recent === undefined) this.#recent.set(channel, recent = new RingBuffer(RECENT));
    recent.push({ type: "event", channel, message: "", id, origin });
  }

  /**
   * History mode: the origins of the channel's recent events at or before
   * `after`, for a catch-up that starts there (none when it starts at the oldest).
   */
  originsUpTo(channel: string, after: string | undefined): Origins {
    const recent = this.#recent.get(channel);
    if (after === undefined || recent === undefined) return new Origins();
    const before: EventFrame[] = [];
    for (let i = 0; i < recent.length; i++) {
      const frame = recent.at(i)!;
      if (sameLog(frame.id!, after) && comparePositions(frame.id!, after) <= 0) before.push(frame);
    }
    return Origins.after(before);
  }

  /**
   * History mode: the backbone delivers `channel` from after `position` on
   * (a subscription was acknowledged); kept unless the channel is already further.
   */
  advance(channel: string, position: string): void {
    if (!this.#channels.has(channel)) return;
    const current = this.#positions.get(channel);
    // A position in another log: the link started the channel in a log made again, after a
    // gap frame; one without an epoch where the channel had one: the link found no log of
    // that epoch (a gap) and starts in one that has none yet.
    const epochless = epochOf(position) === undefined && current !== undefined && epochOf(current) !== undefined;
    if (current === undefined || epochless || !sameLog(position, current) || comparePositions(position, current) > 0) {
      this.#positions.set(channel, position);
    }
  }

  /** Opens a stream of the frames on `channel`. */
  subscribe(channel: string, options: SubscribeOptions = {}): Subscription {
    const { signal, since = "new" } = options;
    const capacity = options.highWaterMark ?? this.#options.highWaterMark ?? 1000;
    let subscriber!: Subscriber;
    const stream = new ReadableStream<Frame>({
      start: (controller) => {
        subscriber = new Subscriber(channel, capacity, controller, this.#stats, this.#positions.get(channel));
      },
      pull: () => subscriber.pull(),
      cancel: () => this.#remove(subscriber),
    }, { highWaterMark: 0 }) as ReadableStream<Frame> & { recovery: Promise<Recovery> };
    stream.recovery = subscriber.recovery;
    if (signal?.aborted) {
      subscriber.close();
      return stream;
    }
    const { catchUp } = this.#options;
    if (catchUp && since !== "new") {
      const after = since === "oldest" ? undefined : since;
      catchUp(subscriber.hold(after), after, "gap");
    } else {
      subscriber.recovered({ recovered: true }); // nothing before it was asked for
    }
    let set = this.#channels.get(channel);
    if (set === undefined) {
      set = new Set();
      this.#channels.set(channel, set);
      this.#options.onFirstSubscriber?.(channel);
    }
    set.add(subscriber);
    // The listener goes once the stream ends, however it ends: a long-lived signal does not keep it.
    signal?.addEventListener("abort", () => {
      this.#remove(subscriber);
      subscriber.close();
    }, { once: true, signal: subscriber.ended });
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
    const { catchUp } = this.#options;
    for (const subscriber of this.#lagging) {
      const dropped = subscriber.dropIfLagging(catchUp !== undefined);
      if (dropped === 0) continue;
      // History mode: what was dropped is read again from the backbone, after what the reader has.
      if (catchUp) catchUp(subscriber.hold(subscriber.cursor), subscriber.cursor, "overflow");
      else this.#options.onOverflow?.(subscriber.channel, dropped);
    }
    this.#lagging.clear();
  }

  #endAll(end: (subscriber: Subscriber) => void): void {
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    this.#lagging.clear();
    clearTimeout(this.#sweep);
    this.#sweep = undefined;
    this.#positions.clear();
    this.#gapped.clear();
    this.#origins.clear();
    this.#recent.clear();
    for (const set of channels) {
      for (const subscriber of set) end(subscriber);
    }
  }

  #remove(subscriber: Subscriber): void {
    subscriber.cancel();
    this.#lagging.delete(subscriber);
    const set = this.#channels.get(subscriber.channel);
    if (!set?.delete(subscriber) || set.size > 0) return;
    this.#channels.delete(subscriber.channel);
    this.#positions.delete(subscriber.channel);
    this.#gapped.delete(subscriber.channel);
    this.#origins.forget(subscriber.channel);
    this.#recent.delete(subscriber.channel);
    this.#options.onLastSubscriber?.(subscriber.channel);
  }
}
