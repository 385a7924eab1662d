/**
 * The inbound side of a Postgres link: notifications become batches of event
 * frames on a `ReadableStream`, one batch per socket read (what postgres.js
 * parsed in one go), in order. A batch that holds references to large
 * messages waits for them to be fetched, and later batches wait for it. A
 * reference that finds no message of its channel (see `large.ts`)
 * is reported as dropped: only a failed session costs the link.
 *
 * @module
 */
import { TickBatcher } from "../../lib/util/tick_batcher.ts";
import { type EventFrame, eventFrame } from "../../lib/contract/frame.ts";
import { type Found, type Lookup, reference } from "./large.ts";

/** What the inbound side needs from its link. */
export interface InboundOptions {
  /** Looks references up in the large-message table. */
  fetch(lookups: Lookup[]): Promise<Found>;
  /** A notification that cannot be delivered, and why. */
  dropped(frame: EventFrame, reason: unknown): void;
  /** A batch could not be delivered (the lookup of its large messages failed). */
  fail(error: unknown): void;
  /** The reader cancelled the stream. */
  cancel(): Promise<void>;
}

interface Notice {
  /** The streamcast channels subscribed through the NOTIFY channel. */
  readonly channels: ReadonlySet<string>;
  readonly payload: string;
}

export class Inbound {
  readonly readable: ReadableStream<EventFrame[]>;
  readonly #options: InboundOptions;
  #controller!: ReadableStreamDefaultController<EventFrame[]>;
  readonly #batcher = new TickBatcher<Notice[]>({ create: () => [], flush: (notices) => this.#flush(notices) });
  #delivering: Promise<void> | undefined;
  /** The stream was closed, errored or cancelled: nothing more can be enqueued. */
  #ended = false;
  #whenDrained: (() => void) | undefined;
  /** The last lookup sent: the next one waits for it. */
  #lookups: Promise<unknown> = Promise.resolve();

  constructor(options: InboundOptions) {
    this.#options = options;
    this.readable = new ReadableStream({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#whenDrained?.(),
      cancel: () => {
        this.#ended = true;
        return options.cancel();
      },
    });
  }

  /** A notification carrying `payload` for `channels`. */
  push(channels: ReadonlySet<string>, payload: string): void {
    if (this.#ended) return;
    this.#batcher.current().push({ channels, payload });
  }

  /**
   * Closes the stream (or errors it with `error`) once what arrived before
   * has been handed on: erroring a stream discards the chunks it still holds.
   */
  end(error?: Error): void {
    const finish = () => {
      if (this.#ended) return;
      if ((this.#controller.desiredSize ?? 1) < 1) return void (this.#whenDrained = finish);
      this.#ended = true;
      this.#whenDrained = undefined;
      if (error) this.#controller.error(error);
      else this.#controller.close();
    };
    queueMicrotask(async () => {
      await this.#batcher.flushed();
      await this.#delivering;
      finish();
    });
  }

  #flush(notices: Notice[]): void {
    const lookups = notices.flatMap(({ channels, payload }) => {
      const found = reference(payload);
      return found && "id" in found ? [...channels].map((channel) => ({ id: found.id, channel })) : [];
    });
    if (lookups.length === 0 && this.#delivering === undefined) return this.#deliver(this.#toFrames(notices));
    const previous = this.#delivering;
    const fetching = lookups.length > 0 ? this.#fetch(lookups) : undefined;
    const delivery = (async () => {
      const found = await fetching;
      await previous; // in order with the batches before
      this.#deliver(this.#toFrames(notices, found));
    })().catch((error) => this.#options.fail(error));
    this.#delivering = delivery;
    delivery.then(() => {
      if (this.#delivering === delivery) this.#delivering = undefined;
    });
  }

  /**
   * Looks `lookups` up once the lookup before has been answered. One query at
   * a time: a peer that can NOTIFY can send references faster than the table
   * answers (a million in one statement), and queries queued all at once on
   * the session would hold the liveness probe behind them until the link is
   * taken for dead. In turn, the probe waits for one lookup at most.
   */
  #fetch(lookups: Lookup[]): Promise<Found> {
    const fetching = this.#lookups.then(() => this.#options.fetch(lookups));
    this.#lookups = fetching.catch(() => {});
    return fetching;
  }

  #deliver(frames: EventFrame[]): void {
    if (frames.length > 0 && !this.#ended) this.#controller.enqueue(frames);
  }

  /** The frames of `notices`; what cannot be delivered is reported as dropped. */
  #toFrames(notices: readonly Notice[], found?: Found): EventFrame[] {
    const frames: EventFrame[] = [];
    if (this.#ended) return frames; // the link is gone: its resync covers these
    for (const { channels, payload } of notices) {
      const ref = reference(payload);
      for (const channel of channels) {
        const message = ref === undefined ? payload : "invalid" in ref ? ref.invalid : found!({ id: ref.id, channel });
        if (typeof message === "string") frames.push(eventFrame(channel, message));
        else this.#options.dropped(eventFrame(channel, payload), message);
      }
    }
    return frames;
  }
}
