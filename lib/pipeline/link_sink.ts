import { deferred } from "../util/deferred.ts";
import type { EventFrame } from "../contract/frame.ts";
import type { OutboundBatch, OutboundChunk } from "./outbound_batch.ts";

/** Options for {@linkcode LinkSink}. */
export interface LinkSinkOptions {
  /** Takes back a batch that could not be delivered (no link, or the link was lost with it in flight). */
  giveBack: (batch: OutboundBatch) => void;
  /** Told when a write to the link failed; the sink has already let go of the link. */
  onError: (error: unknown) => void;
  /** Batches written but not yet acknowledged before the sink waits. @default {2} */
  maxInFlight?: number;
}

/**
 * The end of the outbound pipeline: writes each batch to the current link's
 * writable, keeping a few in flight so that later publishes gather into the
 * next batch meanwhile. An {@linkcode AttachMarker} switches it to a new
 * link; without a link, or when the link is lost, batches go back to the
 * outbound stage, in order.
 */
export class LinkSink extends WritableStream<OutboundChunk> {
  readonly #stats = { published: 0, replayed: 0 };
  readonly #options: LinkSinkOptions;
  #writer: WritableStreamDefaultWriter<EventFrame[]> | undefined;
  readonly #inFlight: OutboundBatch[] = [];
  #progress = deferred();

  /** Makes a sink with no link: batches go back through `options.giveBack` until an attach marker arrives. */
  constructor(options: LinkSinkOptions) {
    super({
      write: (chunk) => this.#write(chunk),
      close: () => this.#drained(),
    });
    this.#options = options;
  }

  /** Counters: frames acknowledged by the backbone, of which replayed from the buffer. */
  get stats(): { readonly published: number; readonly replayed: number } {
    return { ...this.#stats };
  }

  /** Whether as many batches are in flight as allowed: a producer should wait. */
  get busy(): boolean {
    return this.#inFlight.length >= (this.#options.maxInFlight ?? 2);
  }

  /** Lets go of the link: what was in flight goes back, in order. */
  detach(): void {
    const writer = this.#writer;
    if (writer === undefined) return;
    this.#writer = undefined;
    writer.releaseLock();
    for (const batch of this.#inFlight.splice(0)) this.#options.giveBack(batch);
    this.#advance();
  }

  async #write(chunk: OutboundChunk): Promise<void> {
    if ("attach" in chunk) {
      this.detach();
      this.#writer = chunk.attach.getWriter();
      chunk.reached();
      return;
    }
    const writer = this.#writer;
    if (writer === undefined) return this.#options.giveBack(chunk);
    this.#inFlight.push(chunk);
    writer.write(chunk.frames).then(
      () => this.#acknowledged(writer, chunk),
      (error) => this.#failed(writer, error),
    );
    while (this.busy) await this.#progress.promise;
  }

  #acknowledged(writer: WritableStreamDefaultWriter<EventFrame[]>, batch: OutboundBatch): void {
    if (writer !== this.#writer) return; // let go of already: the batch went back
    const index = this.#inFlight.indexOf(batch);
    if (index >= 0) this.#inFlight.splice(index, 1);
    this.#stats.published += batch.frames.length;
    if (batch.replay) this.#stats.replayed += batch.frames.length;
    batch.settle();
    this.#advance();
  }

  #failed(writer: WritableStreamDefaultWriter<EventFrame[]>, error: unknown): void {
    if (writer !== this.#writer) return;
    this.detach();
    this.#options.onError(error);
  }

  async #drained(): Promise<void> {
    while (this.#inFlight.length > 0) await this.#progress.promise;
  }

  #advance(): void {
    const progress = this.#progress;
    this.#progress = deferred();
    progress.resolve();
  }
}
