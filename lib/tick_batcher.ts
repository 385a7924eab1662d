/** Options for {@linkcode TickBatcher}. */
export interface TickBatcherOptions<B> {
  /** Makes an empty batch. */
  create: () => B;
  /**
   * Asked before each batch goes out: a promise holds it (and whatever is
   * added meanwhile goes into the same batch, in order) until it settles.
   */
  hold?: () => Promise<void> | undefined;
}

/**
 * Gathers what is added within one tick into one batch and hands each batch
 * to `readable`, so that what follows costs per batch rather than per item: a
 * thousand publishes in one tick are one chunk.
 *
 * @example A tick's items arrive as one batch
 * ```ts
 * import { TickBatcher } from "./tick_batcher.ts";
 * const batcher = new TickBatcher<number[]>({ create: () => [] });
 * batcher.current().push(1);
 * batcher.current().push(2);
 * const { value } = await batcher.readable.getReader().read();
 * if (value?.join() !== "1,2") throw new Error();
 * ```
 */
export class TickBatcher<B> {
  /** One chunk per tick that had items. */
  readonly readable: ReadableStream<B>;
  readonly #options: TickBatcherOptions<B>;
  #controller!: ReadableStreamDefaultController<B>;
  #pending: B | undefined;
  #queued = false;
  #closed = false;
  readonly #flush = (): void => {
    this.#queued = false;
    if (this.#pending === undefined) return;
    const held = this.#options.hold?.();
    if (held !== undefined) {
      this.#queued = true;
      held.then(this.#flush, this.#flush);
      return;
    }
    const batch = this.#pending;
    this.#pending = undefined;
    try {
      this.#controller.enqueue(batch);
    } catch { /* cancelled: nobody reads any more */ }
    if (this.#closed) this.#end();
  };

  constructor(options: TickBatcherOptions<B>) {
    this.#options = options;
    this.readable = new ReadableStream({ start: (controller) => void (this.#controller = controller) });
  }

  /** The batch of this tick, created on first use; it goes out at the end of the tick. */
  current(): B {
    if (this.#pending === undefined) {
      this.#pending = this.#options.create();
      if (!this.#queued) {
        this.#queued = true;
        queueMicrotask(this.#flush);
      }
    }
    return this.#pending;
  }

  /** The batch gathering now, if any. */
  get pending(): B | undefined {
    return this.#pending;
  }

  /** Closes `readable` once the pending batch has gone out. */
  close(): void {
    this.#closed = true;
    if (!this.#queued) this.#end();
  }

  #end(): void {
    try {
      this.#controller.close();
    } catch { /* closed already */ }
  }
}
