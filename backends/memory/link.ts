/**
 * A link to a memory hub (`hub.ts`): what it subscribes joins the hub's
 * channel, what it writes the hub delivers to every link that joined; a hub
 * that stalls leaves its requests unanswered, one that is cut errors it.
 *
 * @module
 */
import { BackboneUnavailableError } from "../../lib/contract/errors.ts";
import { type EventFrame, type Frame, resyncFrame } from "../../lib/contract/frame.ts";
import type { Link, Start } from "../../lib/contract/link.ts";
import { atPlace, epochOf, placeOf } from "../../lib/contract/position.ts";
import type { Clock } from "../../lib/util/clock.ts";
import { TickBatcher } from "../../lib/util/tick_batcher.ts";

/** What a link asks of its hub. */
export interface HubSide {
  /** Hands `batch` to every link subscribed to its channels; `now` dates it in history mode. */
  deliver(batch: readonly EventFrame[], now: number): void;
  join(link: MemoryLink, channel: string): void;
  leave(link: MemoryLink, channel: string): void;
  /** The link is gone: it leaves every channel. */
  drop(link: MemoryLink): void;
  /** History mode: the channel's last position. */
  position(channel: string): string;
  /** History mode: the kept events of `channel` after `after` up to `upTo`, at most `limit`; "gap" when some are gone. */
  history(channel: string, after: string | undefined, upTo: string, limit: number, now: number): EventFrame[] | "gap";
}

/** One link to a hub. */
export class MemoryLink implements Link {
  readonly readable: ReadableStream<Frame[]>;
  readonly writable: WritableStream<EventFrame[]>;
  readonly channels = new Set<string>();
  stalled = false;
  readonly hub: HubSide;
  /** Set in history mode: the clock that dates events. */
  readonly #clock: Clock | undefined;
  #controller!: ReadableStreamDefaultController<Frame[]>;
  readonly #batcher = new TickBatcher<Frame[]>({
    create: () => [],
    flush: (batch) => {
      if (!this.#error && !this.stalled) this.#controller.enqueue(batch);
    },
  });
  #error: Error | undefined;

  constructor(hub: HubSide, clock: Clock | undefined) {
    this.hub = hub;
    this.#clock = clock;
    this.readable = new ReadableStream({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.#end(),
    });
    this.writable = new WritableStream({
      write: (batch) => this.#answer(() => this.hub.deliver(batch, this.#now())),
    });
  }

  /** Whether this link reads from positions (history mode). */
  get history(): boolean {
    return this.#clock !== undefined;
  }

  receive(frame: Frame): void {
    if (this.stalled || this.#error) return;
    this.#batcher.current().push(frame);
  }

  subscribe(channel: string, start: Start = "new"): Promise<string | void> {
    return this.#answer(() => {
      this.channels.add(channel);
      this.hub.join(this, channel);
      if (!this.history) return;
      const position = this.hub.position(channel);
      if (start === "new") return position;
      // What was missed comes first, then live events: all of it at once, nothing in between.
      let after = start === "oldest" ? undefined : start.after;
      let missed = this.hub.history(channel, after, position, Infinity, this.#now());
      if (missed === "gap") {
        this.receive(resyncFrame(channel, "gap"));
        after = undefined;
        missed = this.hub.history(channel, after, position, Infinity, this.#now()) as EventFrame[];
      }
      for (const frame of missed) this.receive(frame);
      // A position issued before epochs is a place in this log: it starts there, in this epoch.
      if (after !== undefined) return atPlace(epochOf(position), placeOf(after));
      return missed.length > 0 ? before(missed[0].id!) : position;
    });
  }

  read(channel: string, after: string | undefined, upTo: string, limit: number): Promise<EventFrame[] | "gap"> {
    return this.#answer(() => this.hub.history(channel, after, upTo, limit, this.#now()));
  }

  unsubscribe(channel: string): Promise<void> {
    return this.#answer(() => {
      this.channels.delete(channel);
      this.hub.leave(this, channel);
    });
  }

  ping(): Promise<void> {
    return this.#answer(() => {});
  }

  close(): Promise<void> {
    if (!this.#error) {
      this.#error = new BackboneUnavailableError("Connection closed");
      try {
        this.#controller.close();
      } catch { /* cancelled already */ }
    }
    this.#end();
    return Promise.resolve();
  }

  fail(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    this.#controller.error(error);
    this.#end();
  }

  #end(): void {
    this.#error ??= new BackboneUnavailableError("Connection closed");
    this.hub.drop(this);
  }

  #now(): number {
    return this.#clock?.now() ?? 0;
  }

  // Every request either answers, fails like a lost connection, or (stalled) hangs.
  #answer<T>(action: () => T): Promise<T> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.stalled) return new Promise(() => {}); // garbage once the link is dropped
    return Promise.resolve(action());
  }
}

/** The position right before `position`, in its log. */
function before(position: string): string {
  return atPlace(epochOf(position), String(Number(placeOf(position)) - 1));
}
