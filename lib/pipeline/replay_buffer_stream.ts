import { deferred } from "../util/deferred.ts";
import { BackboneUnavailableError } from "../contract/errors.ts";
import type { EventFrame } from "../contract/frame.ts";
import { type OutboundBatch, outboundBatch, type OutboundChunk } from "./outbound_batch.ts";
import { RingBuffer } from "../util/ring_buffer.ts";

/** Options for {@linkcode ReplayBufferStream}. */
export interface ReplayBufferStreamOptions {
  /** Broadcasts kept while down; the oldest is dropped when full; 0 disables. @default {10000} */
  capacity?: number;
  /** Frames per batch while replaying. @default {1000} */
  replayBatch?: number;
  /** Called with each broadcast dropped from a full buffer. */
  onOverflow?: (dropped: EventFrame) => void;
  /**
   * Asked before the replay goes out, and again once what it returned has
   * settled: a promise holds the replay (and what is published meanwhile is
   * kept behind it) while this instance's subscriptions are in flight on the
   * new link, so that a publish made just after a `subscribe` reaches it.
   */
  hold?: () => Promise<void> | undefined;
}

/**
 * The outbound stage, a `TransformStream` of batches. While attached to a link
 * it passes each batch through; while detached it keeps the batches' frames in
 * a ring buffer (dropping the oldest when full) and answers their publishers
 * at once. {@linkcode ReplayBufferStream.attach} sends an {@linkcode AttachMarker}
 * down the stream and, once the sink behind has reached it, replays the buffer
 * in order before passing anything new through.
 *
 * Batches the sink could not deliver (in flight when the link was lost, or
 * reaching it while no link is attached) come back through
 * {@linkcode ReplayBufferStream.giveBack}, ahead of what was buffered since:
 * a duplicate is possible, a silent loss is not.
 *
 * @example Kept while detached, replayed in order once attached
 * ```ts
 * import { ReplayBufferStream } from "./replay_buffer_stream.ts";
 * import { outboundBatch } from "./outbound_batch.ts";
 * const stage = new ReplayBufferStream({ capacity: 10 });
 * const writer = stage.writable.getWriter();
 * const reader = stage.readable.getReader();
 * const next = reader.read(); // as a pipe does: a write waits for a reader
 * await writer.write(outboundBatch([{ type: "event", channel: "c", message: "1" }]));
 * const attached = stage.attach(new WritableStream());
 * const marker = (await next).value;
 * if (marker && "attach" in marker) marker.reached();
 * const replay = (await reader.read()).value;
 * if (!replay || !("frames" in replay) || replay.frames[0].message !== "1") throw new Error();
 * replay.settle();
 * await attached;
 * ```
 */
export class ReplayBufferStream extends TransformStream<OutboundBatch, OutboundChunk> {
  readonly #stats = { buffered: 0, dropped: 0 };
  readonly #options: ReplayBufferStreamOptions;
  readonly #capacity: number;
  /** Frames that came back from the sink: older than anything kept since the link was lost. */
  readonly #returned: RingBuffer<EventFrame>;
  /** Frames kept while detached. */
  readonly #kept: RingBuffer<EventFrame>;
  readonly #controller: TransformStreamDefaultController<OutboundChunk>;
  #passing = false;
  #attachment: object | undefined;
  #ended = false;

  /** Makes a stage that starts detached: it keeps what it is given until {@linkcode ReplayBufferStream.attach}. */
  constructor(options: ReplayBufferStreamOptions = {}) {
    let controller!: TransformStreamDefaultController<OutboundChunk>;
    super({
      start: (c) => void (controller = c),
      transform: (batch, c) => {
        if (this.#passing) c.enqueue(batch);
        else this.#keepBatch(batch, this.#kept);
      },
      flush: () => void (this.#ended = true),
    });
    this.#controller = controller;
    this.#options = options;
    this.#capacity = options.capacity ?? 10_000;
    this.#returned = new RingBuffer(this.#capacity);
    this.#kept = new RingBuffer(this.#capacity);
  }

  /** Counters: kept while down, dropped on overflow. */
  get stats(): { readonly buffered: number; readonly dropped: number } {
    return { ...this.#stats };
  }

  /** How many broadcasts are waiting in the buffer. */
  get buffered(): number {
    return this.#returned.length + this.#kept.length;
  }

  /** Whether batches pass straight through to a link. */
  get passing(): boolean {
    return this.#passing;
  }

  /**
   * Starts sending to `sink`: once the sink behind this stage has reached the
   * marker (and `hold` lets it), replays the buffer in order, then passes
   * batches through.
   * Resolves once the replay is settled (acknowledged, or handed back
   * because the link was lost), or once detached again.
   */
  async attach(sink: WritableStream<EventFrame[]>): Promise<void> {
    const attachment = {};
    this.#attachment = attachment;
    this.#passing = false;
    const reached = deferred();
    if (!this.#enqueue({ attach: sink, reached: () => reached.resolve() })) return;
    await reached.promise;
    for (let held = this.#options.hold?.(); held !== undefined; held = this.#options.hold?.()) {
      await held;
      if (this.#attachment !== attachment) return;
    }
    if (this.#attachment !== attachment) return;
    const size = this.#options.replayBatch ?? 1000;
    const replays: Promise<void>[] = [];
    while (this.buffered > 0) {
      const frames: EventFrame[] = [];
      while (frames.length < size && this.buffered > 0) frames.push(this.#returned.shift() ?? this.#kept.shift()!);
      const batch = outboundBatch(frames, true);
      replays.push(batch.done);
      if (!this.#enqueue(batch)) {
        // Ended meanwhile (disconnect): what was taken out stays, for drain().
        for (let i = frames.length - 1; i >= 0; i--) this.#returned.unshift(frames[i]);
        return;
      }
    }
    this.#passing = true;
    await Promise.all(replays);
  }

  /** The link is gone: batches are kept from now on. */
  detach(): void {
    this.#attachment = undefined;
    this.#passing = false;
  }

  /**
   * Takes back a batch the sink could not deliver, ahead of what was kept
   * since the link was lost; answers its publishers as buffered (or, with the
   * buffer disabled, with `BackboneUnavailableError`).
   */
  giveBack(batch: OutboundBatch): void {
    this.#keepBatch(batch, this.#returned);
  }

  /** Empties the buffer for good: every broadcast not sent, oldest first. */
  drain(): EventFrame[] {
    return [...this.#returned.drain(), ...this.#kept.drain()];
  }

  #keepBatch(batch: OutboundBatch, into: RingBuffer<EventFrame>): void {
    if (this.#capacity === 0 && !batch.replay) {
      return batch.settle(new BackboneUnavailableError("The backbone is down and the replay buffer is disabled"));
    }
    for (const frame of batch.frames) {
      if (!batch.replay) this.#stats.buffered++;
      if (this.buffered >= this.#capacity) {
        const dropped = this.#returned.length > 0 ? this.#returned.shift()! : this.#kept.shift()!;
        this.#stats.dropped++;
        this.#options.onOverflow?.(dropped);
      }
      into.push(frame);
    }
    batch.settle();
  }

  #enqueue(chunk: OutboundChunk): boolean {
    if (this.#ended) return false;
    try {
      this.#controller.enqueue(chunk);
      return true;
    } catch {
      this.#ended = true; // the readable was cancelled
      return false;
    }
  }
}
