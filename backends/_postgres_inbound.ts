/**
 * The inbound side of a Postgres link: notifications become batches of event
 * frames on a `ReadableStream`, one batch per socket read (what postgres.js
 * parsed in one go), in order. A batch that holds references to large
 * messages waits for them to be fetched, and later batches wait for it.
 *
 * @module
 */
import { TickBatcher } from "../lib/tick_batcher.ts";
import { BackboneUnavailableError } from "../lib/errors.ts";
import { type EventFrame, eventFrame } from "../lib/frame.ts";
import { referencedId } from "./_postgres_large.ts";

/** What the inbound side needs from its link. */
export interface InboundOptions {
  /** Fetches stored large messages by id. */
  fetch(ids: string[]): Promise<Map<string, string>>;
  /** A batch could not be delivered (its large messages could not be fetched). */
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
    const ids = notices.flatMap(({ payload }) => referencedId(payload) ?? []);
    if (ids.length === 0 && this.#delivering === undefined) return this.#deliver(toFrames(notices));
    const previous = this.#delivering;
    const fetching = ids.length > 0 ? this.#options.fetch(ids) : undefined;
    const delivery = (async () => {
      const stored = await fetching;
      await previous; // in order with the batches before
      this.#deliver(toFrames(notices, stored));
    })().catch((error) => this.#options.fail(error));
    this.#delivering = delivery;
    delivery.then(() => {
      if (this.#delivering === delivery) this.#delivering = undefined;
    });
  }

  #deliver(frames: EventFrame[]): void {
    if (frames.length > 0 && !this.#ended) this.#controller.enqueue(frames);
  }
}

function toFrames(notices: readonly Notice[], stored?: Map<string, string>): EventFrame[] {
  const frames: EventFrame[] = [];
  for (const { channels, payload } of notices) {
    const id = stored && referencedId(payload);
    const message = id === undefined ? payload : stored!.get(id);
    if (message === undefined) {
      throw new BackboneUnavailableError(
        `A large message (row ${id}) is missing from the payload table: deleted after largePayloadRetention?`,
      );
    }
    for (const channel of channels) frames.push(eventFrame(channel, message));
  }
  return frames;
}
