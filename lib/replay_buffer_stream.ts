import { BackboneUnavailableError } from "./errors.ts";
import type { EventFrame } from "./frame.ts";
import { RingBuffer } from "./ring_buffer.ts";

/** Options for {@linkcode ReplayBufferStream}. */
export interface ReplayBufferStreamOptions {
  /** Broadcasts kept while down; the oldest is dropped when full; 0 disables. @default {10000} */
  capacity?: number;
  /** Frames per write while replaying. @default {1000} */
  replayBatch?: number;
  /** Called with each broadcast dropped from a full buffer. */
  onOverflow?: (dropped: EventFrame) => void;
  /** Called when a write to the attached sink fails; the stage has already detached. */
  onWriteError?: (error: unknown) => void;
}

interface Batch {
  readonly frames: EventFrame[];
  /** Taken from the buffer (already counted as buffered) rather than published live. */
  readonly replay: boolean;
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

const RESOLVED = Promise.resolve();
// Batches written but not yet acknowledged; later publishes gather meanwhile.
const MAX_IN_FLIGHT = 2;

/**
 * The outbound stage. While a link is attached, broadcasts pass through to its
 * writable in order, gathered into one batch per tick. While detached they are
 * kept in a ring buffer; `attach` replays them in order before passing
 * anything new through. A batch that was in flight when the link was lost is
 * buffered again: a duplicate is possible, a silent loss is not.
 *
 * @example Broadcasts wait while down and are replayed in order
 * ```ts
 * import { ReplayBufferStream } from "./replay_buffer_stream.ts";
 * const stage = new ReplayBufferStream({ capacity: 10 });
 * await stage.publish({ type: "event", channel: "c", message: "1" }); // buffered
 * const seen: string[] = [];
 * await stage.attach(new WritableStream({ write: (b) => { for (const f of b) seen.push(f.message); } }));
 * if (seen.join() !== "1") throw new Error(seen.join());
 * ```
 */
export class ReplayBufferStream {
  /** Counters: sent to a link, kept while down, replayed after, dropped on overflow. */
  readonly stats = { published: 0, buffered: 0, replayed: 0, dropped: 0 };
  readonly #options: ReplayBufferStreamOptions;
  readonly #buffer: RingBuffer<EventFrame>;
  #writer: WritableStreamDefaultWriter<EventFrame[]> | undefined;
  #replaying = false;
  #pending: Batch | undefined;
  #flushQueued = false;
  #inFlight: Batch[] = [];
  #closedWith: unknown;
  #idle: (() => void)[] = [];

  constructor(options: ReplayBufferStreamOptions = {}) {
    this.#options = options;
    this.#buffer = new RingBuffer(options.capacity ?? 10_000);
  }

  /** How many broadcasts are waiting in the buffer. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Whether so much is gathered for the next write that a producer should wait. */
  get congested(): boolean {
    return (this.#pending?.frames.length ?? 0) >= (this.#options.replayBatch ?? 1000);
  }

  /** Whether broadcasts currently pass straight through to a link. */
  get passing(): boolean {
    return this.#writer !== undefined && !this.#replaying;
  }

  /**
   * Sends `frame`: resolves once the link acknowledged it, or once it is
   * buffered while down. Rejects with `BackboneUnavailableError` while down
   * with buffering disabled, and with the close reason once closed.
   */
  publish(frame: EventFrame): Promise<void> {
    if (this.#closedWith !== undefined) return Promise.reject(this.#closedWith);
    if (this.passing) {
      const batch = this.#pending ??= newBatch([], false);
      batch.frames.push(frame);
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        queueMicrotask(() => this.#flush());
      }
      return batch.promise;
    }
    if (this.#buffer.capacity === 0) {
      return Promise.reject(new BackboneUnavailableError("The backbone is down and the replay buffer is disabled"));
    }
    this.#keep(frame);
    return RESOLVED;
  }

  /**
   * Starts writing to `sink`: first replays the buffer in order, then passes
   * broadcasts through. Resolves once the replay is done.
   */
  async attach(sink: WritableStream<EventFrame[]>): Promise<void> {
    this.detach();
    const writer = sink.getWriter();
    this.#writer = writer;
    this.#replaying = true;
    const size = this.#options.replayBatch ?? 1000;
    while (this.#writer === writer && this.#buffer.length > 0) {
      const frames: EventFrame[] = [];
      while (frames.length < size && this.#buffer.length > 0) frames.push(this.#buffer.shift()!);
      const batch = newBatch(frames, true);
      this.#write(writer, batch);
      await batch.promise.catch(() => {});
      if (this.#writer !== writer) return;
      this.stats.replayed += frames.length;
    }
    if (this.#writer !== writer) return;
    this.#replaying = false;
    this.#flush();
  }

  /**
   * The link is gone: what was in flight or gathered goes back to the front of
   * the buffer, in order, and later broadcasts are buffered after it.
   */
  detach(): void {
    const writer = this.#writer;
    if (writer === undefined) return;
    this.#writer = undefined;
    this.#replaying = false;
    writer.releaseLock();
    const batches = this.#inFlight;
    if (this.#pending) batches.push(this.#pending);
    this.#inFlight = [];
    this.#pending = undefined;
    if (batches.length === 0) return;
    if (this.#buffer.capacity === 0) {
      const error = new BackboneUnavailableError("The backbone was lost and the replay buffer is disabled");
      for (const batch of batches) batch.reject(error);
      return this.#notifyIdle();
    }
    const newer = this.#buffer.drain();
    for (const batch of batches) {
      for (const frame of batch.frames) this.#keep(frame, !batch.replay);
      batch.resolve();
    }
    for (const frame of newer) this.#buffer.push(frame);
    this.#notifyIdle();
  }

  /** Resolves once nothing is gathered or in flight (the buffer may hold more). */
  idle(): Promise<void> {
    if (this.#inFlight.length === 0 && this.#pending === undefined) return RESOLVED;
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Stops for good: later publishes reject with `reason`, and every broadcast
   * not yet sent is returned, oldest first.
   */
  close(reason: unknown): EventFrame[] {
    this.#closedWith = reason;
    const unsent = [...this.#inFlight, ...(this.#pending ? [this.#pending] : [])];
    const frames = unsent.flatMap((batch) => batch.frames);
    this.#inFlight = [];
    this.#pending = undefined;
    if (this.#writer) {
      this.#writer.releaseLock();
      this.#writer = undefined;
    }
    for (const batch of unsent) batch.reject(reason);
    frames.push(...this.#buffer.drain());
    this.#notifyIdle();
    return frames;
  }

  #keep(frame: EventFrame, count = true): void {
    if (count) this.stats.buffered++;
    const dropped = this.#buffer.push(frame);
    if (dropped === undefined) return;
    this.stats.dropped++;
    this.#options.onOverflow?.(dropped);
  }

  #flush(): void {
    this.#flushQueued = false;
    const writer = this.#writer;
    const batch = this.#pending;
    if (writer === undefined || this.#replaying || batch === undefined) return;
    if (this.#inFlight.length >= MAX_IN_FLIGHT) return; // #settled flushes again
    this.#pending = undefined;
    this.#write(writer, batch);
  }

  #write(writer: WritableStreamDefaultWriter<EventFrame[]>, batch: Batch): void {
    this.#inFlight.push(batch);
    writer.write(batch.frames).then(
      () => this.#settled(writer, batch),
      (error) => this.#failed(writer, error),
    );
  }

  #settled(writer: WritableStreamDefaultWriter<EventFrame[]>, batch: Batch): void {
    if (this.#writer !== writer) return; // detached: already buffered again
    const index = this.#inFlight.indexOf(batch);
    if (index >= 0) this.#inFlight.splice(index, 1);
    this.stats.published += batch.frames.length;
    batch.resolve();
    if (this.#pending) this.#flush();
    else this.#notifyIdle();
  }

  #failed(writer: WritableStreamDefaultWriter<EventFrame[]>, error: unknown): void {
    if (this.#writer !== writer) return;
    this.detach();
    this.#options.onWriteError?.(error);
  }

  #notifyIdle(): void {
    if (this.#inFlight.length > 0 || this.#pending !== undefined) return;
    for (const resolve of this.#idle.splice(0)) resolve();
  }
}

function newBatch(frames: EventFrame[], replay: boolean): Batch {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { frames, replay, promise, resolve, reject };
}
