import { catchUp, type CatchUpSource } from "../history/catch_up.ts";
import type { EventFrame, ResyncFrame } from "../contract/frame.ts";
import type { Direction, Link } from "../contract/link.ts";
import { FanOut, type FanOutOptions, type SubscribeOptions, type Subscription } from "./fan_out.ts";
import { LinkSink } from "./link_sink.ts";
import { type OutboundBatch, outboundBatch } from "./outbound_batch.ts";
import { ReplayBufferStream } from "./replay_buffer_stream.ts";
import { ResyncStream, type ResyncStreamOptions } from "./resync_stream.ts";
import { TickBatcher } from "../util/tick_batcher.ts";

/** Options for {@linkcode Pipeline}. */
export interface PipelineOptions {
  /** Broadcasts kept while down; 0 disables. */
  replayBufferSize: number;
  /** How far a subscriber may lag before its backlog is dropped. */
  subscriberBuffer: number;
  /**
   * A promise that holds publishes while this instance's subscriptions are
   * in flight, or undefined: batches passing straight to a link, and the
   * replay of the buffer to a new link, wait for it.
   */
  subscribing?: () => Promise<void> | undefined;
  /** A write to the link failed: the link is lost. */
  onWriteError: (error: unknown) => void;
  /** A full replay buffer dropped its oldest broadcast. */
  onReplayOverflow: (dropped: EventFrame) => void;
  onFirstSubscriber: FanOutOptions["onFirstSubscriber"];
  onLastSubscriber: FanOutOptions["onLastSubscriber"];
  onSubscriberOverflow: FanOutOptions["onOverflow"];
  onLinkResync?: ResyncStreamOptions["onLinkResync"];
  /**
   * History mode: what a catch-up reads from besides the pipeline's own
   * channel positions; `onGap` is also told when a link says a channel's gap
   * cannot be filled.
   */
  history?: Omit<CatchUpSource, "position" | "origins">;
}

/** The data plane's counters since the pipeline was made (see `BroadcastStats`). */
export interface PipelineStats {
  /** Broadcasts acknowledged by the backbone, replays included, backbone refusals not. */
  readonly published: number;
  /** Events handed to subscriber streams. */
  readonly delivered: number;
  /** Broadcasts kept in the replay buffer while no link took them. */
  readonly buffered: number;
  /** Buffered broadcasts sent to a later link. */
  readonly replayed: number;
  /** Dropped from a full replay buffer, from full subscriber queues, or by the backbone. */
  readonly dropped: number;
  /** Resync frames handed to subscribers. */
  readonly resyncs: number;
  /** History mode: events read again from history for a subscriber whose backlog was dropped. */
  readonly refilled: number;
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
 * The supervisor moves it from link to link: {@linkcode Pipeline.receive}
 * pipes a new link's readable in and, once settled, {@linkcode Pipeline.send}
 * has the outbound stage replay and pass through to the link's writable;
 * {@linkcode Pipeline.detach} buffers again and opens a gap. The stages are
 * its own: the control plane asks it (`inGap`, `position`, `stats`, …) and
 * never reaches into them.
 */
export class Pipeline {
  readonly #batcher: TickBatcher<OutboundBatch>;
  readonly #outbound: ReplayBufferStream;
  readonly #sink: LinkSink;
  readonly #inbound: ResyncStream;
  readonly #fanOut: FanOut;
  readonly #writer: WritableStreamDefaultWriter<OutboundBatch>;
  /** Settles once everything published has been delivered to a link or handed back. */
  readonly #sent: Promise<void>;
  /** Settles once the last link's readable has let go of the inbound stage. */
  #released: Promise<void> = Promise.resolve();
  /** Frames the backbone refused or could not deliver; the outbound ones were acknowledged as written. */
  readonly #backbone = { dropped: 0, outbound: 0 };

  constructor(options: PipelineOptions) {
    this.#inbound = new ResyncStream({ onLinkResync: options.onLinkResync });
    const outbound = this.#outbound = new ReplayBufferStream({
      capacity: options.replayBufferSize,
      onOverflow: options.onReplayOverflow,
      hold: options.subscribing,
    });
    const writer = this.#writer = outbound.writable.getWriter();
    this.#batcher = new TickBatcher({
      create: () => outboundBatch(),
      // Written straight into the stage: its transform runs at once, no pipe in between.
      flush: (batch) => void writer.write(batch).catch(() => {}),
      hold: () => outbound.passing ? options.subscribing?.() : undefined,
    });
    this.#sink = new LinkSink({ giveBack: (batch) => outbound.giveBack(batch), onError: options.onWriteError });
    this.#fanOut = new FanOut({
      highWaterMark: options.subscriberBuffer,
      onFirstSubscriber: options.onFirstSubscriber,
      onLastSubscriber: options.onLastSubscriber,
      onOverflow: options.onSubscriberOverflow,
      ...options.history && this.#catchUp(options.history),
    });
    this.#sent = outbound.readable.pipeTo(this.#sink);
    this.#sent.catch(() => {});
    this.#inbound.readable.pipeTo(this.#fanOut.writable).catch(() => {});
  }

  /** History mode: the fan-out fills subscribers from history, up to its own channel positions. */
  #catchUp(history: NonNullable<PipelineOptions["history"]>): Pick<FanOutOptions, "catchUp" | "onGap"> {
    return {
      catchUp: (target, after, unfilled) => {
        const fanOut = this.#fanOut;
        const source: CatchUpSource = {
          ...history,
          position: (channel) => fanOut.position(channel),
          origins: (channel, upTo) => fanOut.originsUpTo(channel, upTo),
        };
        catchUp(source, target, after, unfilled).catch(() => {});
      },
      onGap: history.onGap,
    };
  }

  /** Queues `frame` for the backbone; resolves once acknowledged or buffered. */
  publish(frame: EventFrame): Promise<void> {
    const batch = this.#batcher.current();
    batch.frames.push(frame);
    return batch.done;
  }

  /** Whether a producer should wait for acknowledgements before writing more. */
  get congested(): boolean {
    return this.#sink.busy || (this.#batcher.pending?.frames.length ?? 0) >= 1000;
  }

  /** Opens a subscriber stream on `channel`. */
  subscribe(channel: string, options?: SubscribeOptions): Subscription {
    return this.#fanOut.subscribe(channel, options);
  }

  /**
   * History mode: where `channel` stands, the id of the last event it
   * delivered or where its subscription started; undefined for a channel
   * without subscribers, or not acknowledged yet.
   */
  position(channel: string): string | undefined {
    return this.#fanOut.position(channel);
  }

  /** History mode: whether `channel`'s subscribers were handed a gap frame and no event since (see {@linkcode FanOut.gapped}). */
  gapped(channel: string): boolean {
    return this.#fanOut.gapped(channel);
  }

  /** History mode: a link delivers `channel` from after `position` on (see {@linkcode FanOut.advance}). */
  advance(channel: string, position: string): void {
    this.#fanOut.advance(channel, position);
  }

  /**
   * Pipes `link`'s events into the inbound stage until `signal` aborts;
   * resolves (or rejects) when that pipe ends, which means the link is lost.
   */
  async receive(link: Link, signal: AbortSignal): Promise<void> {
    await this.#released; // the previous link's pipe has let go of the inbound stage
    const piping = link.readable.pipeTo(this.#inbound.writable, { preventClose: true, preventAbort: true, signal });
    this.#released = piping.catch(() => {});
    return piping;
  }

  /** Replays what was buffered to `link`, then passes publishes through; resolves once replayed. */
  send(link: Link): Promise<void> {
    return this.#outbound.attach(link.writable);
  }

  /** The link is lost: publishes are buffered and subscribers are owed a resync. */
  detach(): void {
    this.#outbound.detach();
    this.#sink.detach();
    this.#inbound.gap();
  }

  /** Whether a gap is open: a link was lost and subscribers may have missed events since. */
  get inGap(): boolean {
    return this.#inbound.inGap;
  }

  /** Closes the open gap: one resync frame per channel; returns how many. */
  resync(channels: Iterable<string>, reason: ResyncFrame["reason"] = "reconnect"): number {
    return this.#inbound.resync(channels, reason);
  }

  /** Closes the open gap without a resync frame: the backbone fills it, or resyncs are turned off. */
  forgive(): void {
    this.#inbound.forgive();
  }

  /**
   * The backbone refused a frame for good or could not deliver it: counted
   * as dropped, and an outbound one as not published, though its write was
   * acknowledged.
   */
  backboneDropped(direction: Direction): void {
    this.#backbone.dropped++;
    if (direction === "outbound") this.#backbone.outbound++;
  }

  /** Every counter of the data plane, gathered here. */
  get stats(): PipelineStats {
    const sink = this.#sink.stats;
    const outbound = this.#outbound.stats;
    const fanOut = this.#fanOut.stats;
    return {
      published: sink.published - this.#backbone.outbound,
      delivered: fanOut.delivered,
      buffered: outbound.buffered,
      replayed: sink.replayed,
      dropped: outbound.dropped + fanOut.dropped + this.#backbone.dropped,
      resyncs: fanOut.resyncs,
      refilled: fanOut.refilled,
    };
  }

  /** How many broadcasts wait in the replay buffer now. */
  get backlog(): number {
    return this.#outbound.buffered;
  }

  /**
   * Stops taking publishes and waits until everything queued was delivered to
   * the link or handed back to the buffer (bounded by the caller: a dead link
   * holds its batches until detached).
   */
  async end(): Promise<void> {
    await this.#batcher.flushed();
    this.#writer.close().catch(() => {});
    await this.#sent;
  }

  /** Empties the buffer for good: every broadcast not sent, oldest first. */
  drain(): EventFrame[] {
    return this.#outbound.drain();
  }

  /** Ends every subscriber stream cleanly, after what is queued. */
  close(): void {
    this.#fanOut.close();
  }

  /** Errors every subscriber stream with `error`, at once. */
  fail(error: unknown): void {
    this.#fanOut.error(error);
  }
}
