/** Options for {@linkcode TickBatcher}. */
export interface TickBatcherOptions<B> {
  /** Makes an empty batch. */
  create: () => B;
  /** Takes each batch, once its tick is over. */
  flush: (batch: B) => void;
  /**
   * Asked before each batch goes out: a promise holds it (and whatever is
   * added meanwhile goes into the same batch, in order) until it settles.
   */
  hold?: () => Promise<void> | undefined;
}

/**
 * Gathers what is added within one tick into one batch and hands each batch
 * to `flush` at the end of the tick, so that what follows costs per batch
 * rather than per item: a thousand publishes in one tick are one chunk.
 *
 * @example A tick's items arrive as one batch
 * ```ts
 * import { TickBatcher } from "./tick_batcher.ts";
 * const batches: number[][] = [];
 * const batcher = new TickBatcher<number[]>({ create: () => [], flush: (batch) => batches.push(batch) });
 * batcher.current().push(1);
 * batcher.current().push(2);
 * await batcher.flushed();
 * if (JSON.stringify(batches) !== "[[1,2]]") throw new Error();
 * ```
 */
export class TickBatcher<B> {
  readonly #options: TickBatcherOptions<B>;
  #pending: B | undefined;
  #queued = false;
  #drained: (() => void)[] = [];
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
    this.#options.flush(batch);
    for (const resolve of this.#drained.splice(0)) resolve();
  };

  /** Makes a batcher with no batch pending; `options.create` makes one on first use in each tick. */
  constructor(options: TickBatcherOptions<B>) {
    this.#options = options;
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

  /** Resolves once the pending batch (if any) has gone out. */
  flushed(): Promise<void> {
    if (this.#pending === undefined) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }
}
