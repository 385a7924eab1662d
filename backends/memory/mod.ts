/**
 * The `memory://` backbone: an in-process hub shared by every Broadcast in the
 * process, so that several instances behave like several servers on one
 * backbone. `memory://` names the default hub; `memory://name` another one.
 *
 * {@linkcode memoryHub} is a control surface for tests and demonstrations: it
 * makes a hub go down, come back, or stall without closing. The connector
 * holds nothing beyond its links: the hub is the state, and it outlives them.
 *
 * In history mode the hub keeps each channel's last events (as many as the
 * largest `messages` any connector asked for, and no older than its
 * `maxAge`), numbered 1, 2, … per channel; a link resumes after a position,
 * so a cut or a stall of the hub costs a subscriber nothing it keeps.
 *
 * @module
 */
import { BackboneUnavailableError } from "../../lib/contract/errors.ts";
import type { Clock } from "../../lib/util/clock.ts";
import { type EventFrame, type Frame, resyncFrame } from "../../lib/contract/frame.ts";
import type { Backend, Connector, HistoryOptions, Link, Start } from "../../lib/contract/link.ts";
import { RingBuffer } from "../../lib/util/ring_buffer.ts";
import { TickBatcher } from "../../lib/util/tick_batcher.ts";

/** Builds a connector whose links go to the in-process hub named by the URI's host. */
export const memory: Backend = (uri, context): Connector => {
  const hub = memoryHub(uri.hostname);
  const { history, clock } = context;
  if (history) hub.keep(history);
  return { open: () => hub.connect(history ? clock : undefined) };
};

export default memory;

/** A hub's control surface. */
export interface MemoryHub {
  /** Links open now. */
  readonly connections: number;
  /** How many links are subscribed to `channel`. */
  subscribers(channel: string): number;
  /** Whether the hub refuses or stalls new links. */
  readonly state: "up" | "down" | "stalled";
  /** Errors every open link and refuses new ones until `restore()`. */
  cut(reason?: string): void;
  /** Open links stop answering without closing; new links hang until `restore()`. */
  stall(): void;
  /** Accepts new links again. */
  restore(): void;
}

const hubs = new Map<string, Hub>();

/** The hub named `name` (the default hub for ""), created on first use. */
export function memoryHub(name = ""): MemoryHub & {
  /** Opens a link; in history mode (given the clock its ages go by) one that reads from positions. */
  connect(clock?: Clock): Promise<Link>;
  /** History mode: keeps at least as much history as `history` asks for. */
  keep(history: HistoryOptions): void;
} {
  return hub(name);
}

function hub(name: string): Hub {
  let hub = hubs.get(name);
  if (hub === undefined) {
    hub = new Hub(name);
    hubs.set(name, hub);
  }
  return hub;
}


/** One channel's kept events, in history mode. */
interface Kept {
  /** The last event's number; events are numbered 1, 2, … */
  last: number;
  /** The highest number dropped from history. */
  dropped: number;
  readonly events: RingBuffer<{ frame: EventFrame; at: number }>;
}

class Hub implements MemoryHub {
  state: "up" | "down" | "stalled" = "up";
  readonly links = new Set<MemoryLink>();
  readonly #channels = new Map<string, Set<MemoryLink>>();
  #waiting: (() => void)[] = [];
  /** History mode: what is kept, and each channel's events. */
  #keep: { messages: number; maxAge: number } | undefined;
  readonly #kept = new Map<string, Kept>();

  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }

  get connections(): number {
    return this.links.size;
  }

  subscribers(channel: string): number {
    return this.#channels.get(channel)?.size ?? 0;
  }

  /** Keeps at least as much history as `history` asks for. */
  keep(history: HistoryOptions): void {
    const messages = Math.max(this.#keep?.messages ?? 0, history.messages);
    const maxAge = Math.max(this.#keep?.maxAge ?? 0, history.maxAge ?? Infinity);
    this.#keep = { messages, maxAge };
  }

  /** Opens a link; a history-mode link (given the clock its ages go by) reads from positions. */
  async connect(clock?: Clock): Promise<Link> {
    while (this.state === "stalled") await new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (this.state === "down") throw this.#downError();
    const link = new MemoryLink(this, clock);
    this.links.add(link);
    return link;
  }

  cut(reason = "the memory hub was cut"): void {
    this.state = "down";
    for (const link of [...this.links]) link.fail(new BackboneUnavailableError(`Connection lost: ${reason}`));
    this.#wake();
  }

  stall(): void {
    this.state = "stalled";
    for (const link of this.links) link.stalled = true;
  }

  restore(): void {
    this.state = "up";
    this.#wake();
  }

  deliver(batch: readonly EventFrame[], now: number): void {
    for (const sent of batch) {
      const frame = this.#record(sent, now);
      const links = this.#channels.get(frame.channel);
      if (links === undefined) continue;
      // A pub/sub link sees channel and message only, as over any other backbone.
      const plain = sent.origin === undefined ? sent : { type: "event" as const, channel: sent.channel, message: sent.message };
      for (const link of links) link.receive(link.history ? frame : plain);
    }
  }

  /** Keeps `sent` in its channel's history, numbered, in history mode. */
  #record(sent: EventFrame, now: number): EventFrame {
    if (this.#keep === undefined) return sent;
    const { messages } = this.#keep;
    let kept = this.#kept.get(sent.channel);
    if (kept === undefined) this.#kept.set(sent.channel, kept = { last: 0, dropped: 0, events: new RingBuffer(messages) });
    const { channel, message, origin } = sent;
    const frame: EventFrame = { type: "event", channel, message, id: String(++kept.last), ...origin !== undefined && { origin } };
    if (kept.events.push({ frame, at: now }) !== undefined) kept.dropped++;
    return frame;
  }

  /** The channel's last position. */
  position(channel: string): string {
    return String(this.#kept.get(channel)?.last ?? 0);
  }

  /**
   * The kept events of `channel` after `after` (from the oldest when
   * undefined) up to `upTo`, at most `limit`; "gap" when some after `after`
   * are no longer kept.
   */
  history(channel: string, after: string | undefined, upTo: string, limit: number, now: number): EventFrame[] | "gap" {
    const kept = this.#kept.get(channel);
    if (kept === undefined) return after === undefined || after === "0" ? [] : "gap";
    this.#expire(kept, now);
    if (after !== undefined && !/^\d{1,15}$/.test(after)) return "gap"; // not a position of this hub
    const from = after === undefined ? kept.dropped : Number(after);
    if (from < kept.dropped) return "gap";
    const frames: EventFrame[] = [];
    const first = kept.last - kept.events.length + 1;
    for (let n = Math.max(from + 1, first); n <= Math.min(Number(upTo), kept.last) && frames.length < limit; n++) {
      frames.push(kept.events.at(n - first)!.frame);
    }
    return frames;
  }

  /** Drops what is older than `maxAge`. */
  #expire(kept: Kept, now: number): void {
    const maxAge = this.#keep?.maxAge ?? Infinity;
    while (kept.events.length > 0 && now - kept.events.at(0)!.at > maxAge) {
      kept.events.shift();
      kept.dropped++;
    }
  }

  join(link: MemoryLink, channel: string): void {
    let links = this.#channels.get(channel);
    if (links === undefined) this.#channels.set(channel, links = new Set());
    links.add(link);
  }

  leave(link: MemoryLink, channel: string): void {
    const links = this.#channels.get(channel);
    if (links?.delete(link) && links.size === 0) this.#channels.delete(channel);
  }

  drop(link: MemoryLink): void {
    this.links.delete(link);
    for (const channel of link.channels) this.leave(link, channel);
  }

  #downError(): Error {
    return new BackboneUnavailableError(`Connection refused: memory hub ${JSON.stringify(this.name)} is down`);
  }

  #wake(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }
}

class MemoryLink implements Link {
  readonly readable: ReadableStream<Frame[]>;
  readonly writable: WritableStream<EventFrame[]>;
  readonly channels = new Set<string>();
  stalled = false;
  readonly hub: Hub;
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

  constructor(hub: Hub, clock: Clock | undefined) {
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
      return after ?? (missed.length > 0 ? String(Number(missed[0].id) - 1) : position);
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
