import type { EventFrame, Frame, ResyncFrame } from "../contract/frame.ts";

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
export class ResyncStream extends TransformStream<EventFrame[], Frame[]> {
  #controller!: TransformStreamDefaultController<Frame[]>;
  #gapOpen = false;
  #resyncs = 0;

  constructor() {
    let controller!: TransformStreamDefaultController<Frame[]>;
    super({
      start: (c) => {
        controller = c;
      },
      transform: (batch, c) => c.enqueue(batch),
    });
    this.#controller = controller;
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
