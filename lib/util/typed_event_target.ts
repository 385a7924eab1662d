/** A listener for events of type `E`: a function, or an object with `handleEvent`. */
export type TypedEventListener<E extends Event> = ((event: E) => void) | { handleEvent(event: E): void };

/** The `detail` of the `CustomEvent` that `M` names `K`; `never` for an event that is not a `CustomEvent`. */
export type EventDetail<M extends Record<keyof M, Event>, K extends keyof M> = M[K] extends CustomEvent<infer D> ? D : never;

/**
 * An `EventTarget` whose events are named and typed by an event map `M`
 * (type → event class), so that a listener for a known type gets its event
 * typed and needs no cast. Other types are still accepted, as on any
 * `EventTarget`. A subclass fires its events with
 * {@linkcode TypedEventTarget.emit}.
 *
 * @example A listener gets the typed `CustomEvent`
 * ```ts
 * import { TypedEventTarget } from "./typed_event_target.ts";
 * class Counter extends TypedEventTarget<{ count: CustomEvent<{ total: number }> }> {
 *   #total = 0;
 *   add(): void {
 *     this.emit("count", { total: ++this.#total });
 *   }
 * }
 * const counter = new Counter();
 * let seen = 0;
 * counter.addEventListener("count", (event) => seen = event.detail.total);
 * counter.add();
 * counter.add();
 * if (seen !== 2) throw new Error(`saw ${seen}`);
 * ```
 */
export class TypedEventTarget<M extends Record<keyof M, Event>> extends EventTarget {
  /** Listens for one of the events of `M`; the listener gets that event's type. */
  override addEventListener<K extends keyof M & string>(
    type: K,
    listener: TypedEventListener<M[K]> | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Listens for an event by any name, as on any `EventTarget`. */
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void {
    super.addEventListener(type, listener, options);
  }

  /** Removes a listener added for one of the events of `M`. */
  override removeEventListener<K extends keyof M & string>(
    type: K,
    listener: TypedEventListener<M[K]> | null,
    options?: boolean | EventListenerOptions,
  ): void;
  /** Removes a listener added for an event by any name. */
  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void {
    super.removeEventListener(type, listener, options);
  }

  /** Fires the `CustomEvent` that `M` names `type`, carrying `detail`. */
  protected emit<K extends keyof M & string>(type: K, detail: EventDetail<M, K>): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
