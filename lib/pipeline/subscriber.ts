/**
 * One subscriber stream of the fan-out (`fan_out.ts`): its queue, bounded in
 * how far it lags, and in history mode where it stands (its cursor), the
 * live events it holds back while history fills it, and the rule that it
 * never gets an event at or before what it already had.
 *
 * @module
 */
import type { CatchUpTarget } from "../history/catch_up.ts";
import type { Frame, Recovery, ResyncFrame } from "../contract/frame.ts";
import { resyncFrame } from "../contract/frame.ts";
import { comparePositions, sameLog } from "../contract/position.ts";
import { RingBuffer } from "../util/ring_buffer.ts";

/** The fan-out's counters, which every subscriber adds to. */
export interface SubscriberStats {
  delivered: number;
  dropped: number;
  resyncs: number;
  refilled: number;
}

// Frames handed to a stream per pull: enough to amortise the pull, few enough
// that the stream's own queue (which slows down with depth) stays short.
const PULL_BATCH = 64;

/** One subscriber stream: what the fan-out hands it, queued until its reader pulls. */
export class Subscriber {
  readonly channel: string;
  readonly #capacity: number;
  readonly #controller: ReadableStreamDefaultController<Frame>;
  readonly #stats: SubscriberStats;
  readonly #queue = new RingBuffer<Frame>(Number.MAX_SAFE_INTEGER);
  /** Aborted once the stream ends: stops a catch-up, and lets go of the caller's abort signal. */
  readonly #life = new AbortController();
  #waiting = false;
  #closing = false;
  #resyncQueued = false;
  /** History mode: the id of the last event handed to the reader, or the position the stream started at. */
  #cursor: string | undefined;
  /** Whether `#cursor` is known: undefined then means "before the oldest kept". */
  #cursorKnown: boolean;
  /** History mode: the id of the last event queued or handed out, or where the stream (re)started. */
  #last: string | undefined;
  /** While catching up: the live frames held back. */
  #held: Frame[] | undefined;
  #heldDrops = 0;
  /** Whether the next catch-up reads a dropped backlog again: what it fills is counted as refilled. */
  #refill = false;
  #room: (() => void) | undefined;
  /** Settles once the stream knows whether it got everything after where it started. */
  readonly recovery: Promise<Recovery>;
  #recovered!: (recovery: Recovery) => void;

  constructor(
    channel: string,
    capacity: number,
    controller: ReadableStreamDefaultController<Frame>,
    stats: SubscriberStats,
    position: string | undefined,
  ) {
    this.channel = channel;
    this.#capacity = capacity;
    this.#controller = controller;
    this.#stats = stats;
    this.#cursor = position;
    this.#cursorKnown = position !== undefined;
    this.recovery = new Promise((resolve) => this.#recovered = resolve);
  }

  /** Says whether the stream got everything after where it started; only the first word counts. */
  recovered(recovery: Recovery): void {
    this.#recovered(recovery);
  }

  /** Aborts once the stream ends (closed, errored or cancelled). */
  get ended(): AbortSignal {
    return this.#life.signal;
  }

  /** History mode: where the reader stands, to read again from after it. */
  get cursor(): string | undefined {
    return this.#cursor;
  }

  /**
   * Queues `frame` (held back while catching up); true when the queue now
   * holds more than the bound. `before` is the channel's position before
   * this event: where a stream that has handed out nothing yet stands.
   */
  push(frame: Frame, before?: string): boolean {
    if (this.#closing) return false;
    if (!this.#cursorKnown) {
      this.#cursor = before;
      this.#cursorKnown = before !== undefined;
    }
    if (this.#held !== undefined) {
      this.#hold(frame);
      return false;
    }
    return this.#enqueue(frame);
  }

  #enqueue(frame: Frame): boolean {
    if (frame.type === "resync" && this.#resyncQueued) return false; // one is already waiting
    if (frame.type === "event" && frame.id !== undefined) {
      // An event the stream has already had, or that comes before where it started (its instance
      // lags behind the position it was asked to start after), is not handed out again.
      if (this.#last !== undefined && sameLog(frame.id, this.#last) && comparePositions(frame.id, this.#last) <= 0) return false;
      this.#last = frame.id;
    }
    if (frame.type === "resync") this.#stats.resyncs++;
    else this.#stats.delivered++;
    if (this.#waiting) {
      this.#waiting = false;
      this.#handOut(frame);
      return false;
    }
    if (frame.type === "resync") this.#resyncQueued = true;
    this.#queue.push(frame);
    return this.#queue.length > this.#capacity;
  }

  #handOut(frame: Frame): void {
    if (frame.type === "event" && frame.id !== undefined) {
      this.#cursor = frame.id;
      this.#cursorKnown = true;
    }
    this.#controller.enqueue(frame);
  }

  /** Starts holding live frames back while history fills the stream from after `after`. */
  hold(after: string | undefined): CatchUpTarget {
    const refill = this.#refill;
    this.#refill = false;
    this.#held = [];
    this.#cursor = after;
    this.#cursorKnown = true;
    this.#last = after;
    return {
      channel: this.channel,
      signal: this.#life.signal,
      pageSize: Math.max(1, Math.min(500, Math.floor(this.#capacity / 2))),
      heldDrops: () => this.#heldDrops,
      fill: (frames) => {
        if (this.#closing) return;
        const delivered = this.#stats.delivered;
        for (const frame of frames) this.#enqueue(frame);
        // What history had of the dropped backlog: after a gap, less than was dropped.
        if (refill) this.#stats.refilled += this.#stats.delivered - delivered;
      },
      room: () => {
        if (this.#closing || this.#queue.length <= this.#capacity / 2) return Promise.resolve();
        return new Promise((resolve) => this.#room = resolve);
      },
      release: (through, resync) => this.#release(through, resync),
      recovered: (recovery) => this.recovered(recovery),
    };
  }

  #hold(frame: Frame): void {
    const held = this.#held!;
    held.push(frame);
    if (held.length <= this.#capacity) return;
    // Too many while catching up: history reaches further instead; a resync frame is kept.
    this.#held = held.filter((f) => f.type === "resync").slice(-1);
    this.#heldDrops++;
  }

  #release(through: string | undefined, resync: ResyncFrame["reason"] | undefined): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    // The stream goes on right after `through`, even when it was to start further on (a position never reached).
    if (through !== undefined) this.#last = through;
    if (this.#closing) return;
    if (resync !== undefined) this.#enqueue(resyncFrame(this.channel, resync));
    for (const frame of held) {
      const seen = through !== undefined && frame.type === "event" && frame.id !== undefined &&
        sameLog(frame.id, through) && comparePositions(frame.id, through) <= 0;
      if (!seen) this.#enqueue(frame);
    }
  }

  pull(): void {
    const queue = this.#queue;
    if (queue.length === 0) {
      if (this.#closing) this.#controller.close();
      else this.#waiting = true;
      this.#wakeRoom();
      return;
    }
    for (let i = 0; i < PULL_BATCH && queue.length > 0; i++) {
      const frame = queue.shift()!;
      if (frame.type === "resync") this.#resyncQueued = false;
      this.#handOut(frame);
    }
    if (queue.length === 0 && this.#closing) this.#controller.close();
    if (queue.length <= this.#capacity / 2) this.#wakeRoom();
  }

  #wakeRoom(): void {
    const wake = this.#room;
    this.#room = undefined;
    wake?.();
  }

  close(): void {
    this.#end();
    if (this.#waiting || this.#queue.length === 0) {
      this.#waiting = false;
      try {
        this.#controller.close();
      } catch { /* already closed or cancelled */ }
    }
  }

  error(reason: unknown): void {
    this.#end();
    this.#queue.clear();
    try {
      this.#controller.error(reason);
    } catch { /* already closed or cancelled */ }
  }

  /** The stream is ending (closed, errored or cancelled): a catch-up stops. */
  #end(): void {
    this.#closing = true;
    this.#recovered({ recovered: false, reason: "unreadable" }); // ended before it knew: nothing was recovered
    this.#held = undefined;
    this.#life.abort();
    this.#wakeRoom();
  }

  /** The reader cancelled. */
  cancel(): void {
    this.#end();
  }

  /**
   * Drops the backlog if the subscriber still lags beyond its bound; returns
   * how many events went. Unless `refill` (history mode: the next `hold` reads
   * them again, and counts what it finds as refilled), a resync frame with
   * reason `overflow` takes their place.
   */
  dropIfLagging(refill = false): number {
    if (this.#closing || this.#held !== undefined || this.#queue.length <= this.#capacity) return 0;
    const dropped = this.#queue.length - (this.#resyncQueued ? 1 : 0);
    const resync = this.#resyncQueued ? this.#queue.drain().filter((f) => f.type === "resync").slice(-1) : [];
    this.#queue.clear();
    this.#stats.delivered -= dropped;
    if (refill) {
      // Read again from history (the catch-up counts what it finds). A resync frame already queued stays.
      this.#refill = true;
      for (const frame of resync) this.#queue.push(frame);
      this.#resyncQueued = resync.length > 0;
      return dropped;
    }
    this.#stats.dropped += dropped;
    if (!this.#resyncQueued) this.#stats.resyncs++;
    this.#queue.push({ type: "resync", channel: this.channel, reason: "overflow" });
    this.#resyncQueued = true;
    return dropped;
  }
}
