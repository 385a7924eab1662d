import type { Frame, ResyncFrame } from "../contract/frame.ts";

/** Options for {@linkcode ResyncStream}. */
export interface ResyncStreamOptions {
  /**
   * A link said `channel` may have missed events while the link itself lived
   * on (a resync frame, reason `reconnect`); returns whether the frame goes
   * on to the subscribers (not when resyncs on reconnect are turned off).
   */
  onLinkResync?: (channel: string) => boolean;
}

/**
 * The inbound stage: passes each link's batches of events through, and after
 * a gap injects one resync frame per channel (so one per open subscriber, once
 * fanned out), in order with the events around it.
 *
 * A gap opens when a link is lost ({@linkcode ResyncStream.gap}) and closes
 * when the core calls {@linkcode ResyncStream.resync} once every channel is
 * subscribed again and the settle time has passed; further drops before that
 * belong to the same gap, so a subscriber gets one frame per gap.
 *
 * A link that lives on through a partial loss (a cluster's shard mended)
 * sends resync frames (`reconnect`) of its own for the channels it concerns:
 * each is told to `onLinkResync`, and passed on only when it says so and no
 * gap is open (the frame that closes the gap stands for it).
 *
 * @example One resync frame per channel after a gap
 * ```ts
 * import { ResyncStream } from "./resync_stream.ts";
 * const stage = new ResyncStream();
 * const reader = stage.readable.getReader();
 * stage.gap();
 * stage.resync(["a"]);
 * const { value } = await reader.read();
 * if (value?.[0]?.type !== "resync") throw new Error();
 * ```
 */
export class ResyncStream extends TransformStream<Frame[], Frame[]> {
  #controller!: TransformStreamDefaultController<Frame[]>;
  #gapOpen = false;
  #resyncs = 0;

  /** `onLinkResync` is told of each resync frame a link sent, and says whether it goes on. */
  constructor(options: ResyncStreamOptions = {}) {
    let controller!: TransformStreamDefaultController<Frame[]>;
    const { onLinkResync } = options;
    // While a gap of the core is open, its own frame comes at the end of it: one from the link would be a second.
    let passes = (channel: string) => onLinkResync!(channel);
    super({
      start: (c) => {
        controller = c;
      },
      transform: onLinkResync === undefined ? (batch, c) => c.enqueue(batch) : (batch, c) => c.enqueue(linkResyncs(batch, passes)),
    });
    this.#controller = controller;
    passes = (channel) => !this.#gapOpen && onLinkResync!(channel);
  }

  /** Whether a gap is open: events may have been missed since it began. */
  get inGap(): boolean {
    return this.#gapOpen;
  }

  /** How many gaps were closed with resync frames. */
  get resyncs(): number {
    return this.#resyncs;
  }

  /** Marks that events may be lost from now on (the link went down). */
  gap(): void {
    this.#gapOpen = true;
  }

  /**
   * Closes the open gap: injects a resync frame for each of `channels` and
   * returns how many; without an open gap it injects nothing.
   */
  resync(channels: Iterable<string>, reason: ResyncFrame["reason"] = "reconnect"): number {
    if (!this.#gapOpen) return 0;
    this.#gapOpen = false;
    const frames: ResyncFrame[] = [];
    for (const channel of channels) frames.push({ type: "resync", channel, reason });
    this.#resyncs++;
    if (frames.length > 0) this.#controller.enqueue(frames);
    return frames.length;
  }

  /** Closes the open gap without injecting anything (resync on reconnect disabled). */
  forgive(): void {
    this.#gapOpen = false;
  }
}

/** `batch` with each link-sent resync frame told, and left out where `onLinkResync` says so. */
function linkResyncs(batch: Frame[], onLinkResync: (channel: string) => boolean): Frame[] {
  for (let i = 0; i < batch.length; i++) {
    const frame = batch[i];
    if (frame.type === "resync" && frame.reason === "reconnect") {
      return batch.filter((f) => f.type !== "resync" || f.reason !== "reconnect" || onLinkResync(f.channel));
    }
  }
  return batch;
}
