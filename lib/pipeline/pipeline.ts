import { FanOut, type FanOutOptions, type SubscribeOptions } from "./fan_out.ts";
import type { EventFrame, Frame, ResyncFrame } from "../contract/frame.ts";
import type { Link } from "../contract/link.ts";
import { LinkSink } from "./link_sink.ts";
import { type OutboundBatch, outboundBatch } from "./outbound_batch.ts";
import { ReplayBufferStream } from "./replay_buffer_stream.ts";
import { ResyncStream } from "./resync_stream.ts";
import { TickBatcher } from "../util/tick_batcher.ts";

/** Options for {@linkcode Pipeline}. */
export interface PipelineOptions {
  /** Broadcasts kept while down; 0 disables. */
  replayBufferSize: number;
  /** How far a subscriber may lag before its backlog is dropped. */
  subscriberBuffer: number;
  /**
   * While batches pass straight to a link, a promise that holds them (this
   * instance's subscriptions in flight), or undefined; buffered batches are
   * never held.
   */
  subscribing?: () => Promise<void> | undefined;
  /** A write to the link failed: the link is lost. */
  onWriteError: (error: unknown) => void;
  /** A full replay buffer dropped its oldest broadcast. */
  onReplayOverflow: (dropped: EventFrame) => void;
  onFirstSubscriber: FanOutOptions["onFirstSubscriber"];
  onLastSubscriber: FanOutOptions["onLastSubscriber"];
  onSubscriberOverflow: FanOutOptions["onOverflow"];
  /** History mode: fills a subscriber from history (see {@linkcode FanOutOptions.catchUp}). */
  catchUp?: FanOutOptions["catchUp"];
  /** History mode: a link said a channel's gap cannot be filled. */
  onGap?: FanOutOptions["onGap"];
}

/**
 * The streams between the publishers, the backbone and the subscribers, wired
 * in one place:
 *
 * ```
 * publish() ─► TickBatcher ─► ReplayBufferStream ─► LinkSink ─► link.writable
 * link.readable ─► ResyncStream ─► FanOut ─► one ReadableStream per subscriber
 * ```
 *
 * The supervisor moves it from link to link: {@linkcode Pipeline.attach}
 * pipes a new link's readable in and, once settled, has the outbound stage
 * replay and pass through to the link's writable; {@linkcode Pipeline.detach}
 * buffers again and opens a gap.
 */
export class Pipeline {
  readonly batcher: TickBatcher<OutboundBatch>;
  readonly outbound: ReplayBufferStream;
  readonly sink: LinkSink;
  readonly inbound: ResyncStream = new ResyncStream();
  readonly fanOut: FanOut;
  readonly #outbound: WritableStreamDefaultWriter<OutboundBatch>;
  /** Settles once everything published has been delivered to a link or handed back. */
  readonly #sent: Promise<void>;
  /** Settles once the last link's readable has let go of the inbound stage. */
  #released: Promise<void> = Promise.resolve();

  constructor(options: PipelineOptions) {
    this.outbound = new ReplayBufferStream({ capacity: options.replayBufferSize, onOverflow: options.onReplayOverflow });
    const outbound = this.outbound.writable.getWriter();
    this.#outbound = outbound;
    this.batcher = new TickBatcher({
      create: () => outboundBatch(),
      // Written straight into the stage: its transform runs at once, no pipe in between.
      flush: (batch) => void outbound.write(batch).catch(() => {}),
      hold: () => this.outbound.passing ? options.subscribing?.() : undefined,
    });
    this.sink = new LinkSink({ giveBack: (batch) => this.outbound.giveBack(batch), onError: options.onWriteError });
    this.fanOut = new FanOut({
      highWaterMark: options.subscriberBuffer,
      onFirstSubscriber: options.onFirstSubscriber,
      onLastSubscriber: options.onLastSubscriber,
      onOverflow: options.onSubscriberOverflow,
      catchUp: options.catchUp,
      onGap: options.onGap,
    });
    this.#sent = this.outbound.readable.pipeTo(this.sink);
    this.#sent.catch(() => {});
    this.inbound.readable.pipeTo(this.fanOut.writable).catch(() => {});
  }

  /** Queues `frame` for the backbone; resolves once acknowledged or buffered. */
  publish(frame: EventFrame): Promise<void> {
    const batch = this.batcher.current();
    batch.frames.push(frame);
    return batch.done;
  }

  /** Whether a producer should wait for acknowledgements before writing more. */
  get congested(): boolean {
    return this.sink.busy || (this.batcher.pending?.frames.length ?? 0) >= 1000;
  }

  /** Opens a subscriber stream on `channel`. */
  subscribe(channel: string, options?: SubscribeOptions): ReadableStream<Frame> {
    return this.fanOut.subscribe(channel, options);
  }

  /**
   * Pipes `link`'s events into the inbound stage until `signal` aborts;
   * resolves (or rejects) when that pipe ends, which means the link is lost.
   */
  async receive(link: Link, signal: AbortSignal): Promise<void> {
    await this.#released; // the previous link's pipe has let go of the inbound stage
    const piping = link.readable.pipeTo(this.inbound.writable, { preventClose: true, preventAbort: true, signal });
    this.#released = piping.catch(() => {});
    return piping;
  }

  /** Replays what was buffered to `link`, then passes publishes through; resolves once replayed. */
  send(link: Link): Promise<void> {
    return this.outbound.attach(link.writable);
  }

  /** The link is lost: publishes are buffered and subscribers are owed a resync. */
  detach(): void {
    this.outbound.detach();
    this.sink.detach();
    this.inbound.gap();
  }

  /** Closes the open gap: one resync frame per channel; returns how many. */
  resync(channels: Iterable<string>, reason: ResyncFrame["reason"] = "reconnect"): number {
    return this.inbound.resync(channels, reason);
  }

  /**
   * Stops taking publishes and waits until everything queued was delivered to
   * the link or handed back to the buffer (bounded by the caller: a dead link
   * holds its batches until detached).
   */
  async end(): Promise<void> {
    await this.batcher.flushed();
    this.#outbound.close().catch(() => {});
    await this.#sent;
  }

  /** Empties the buffer for good: every broadcast not sent, oldest first. */
  drain(): EventFrame[] {
    return this.outbound.drain();
  }
}
