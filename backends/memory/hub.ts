/**
 * The in-process hubs of `memory://`, by name: each is shared by every
 * Broadcast of the process that names it, outlives their links, and has a
 * control surface ({@linkcode memoryHub}) that makes it go down, come back or
 * stall, for tests and demonstrations.
 *
 * @module
 */
import { BackboneUnavailableError } from "../../lib/contract/errors.ts";
import type { EventFrame } from "../../lib/contract/frame.ts";
import type { HistoryOptions, Link } from "../../lib/contract/link.ts";
import { atPlace, fromLog, newEpoch, placeOf } from "../../lib/contract/position.ts";
import type { Clock } from "../../lib/util/clock.ts";
import { RingBuffer } from "../../lib/util/ring_buffer.ts";
import { type HubSide, MemoryLink } from "./link.ts";

/** A hub's control surface. */
export interface MemoryHub {
  /** Links open now. */
  readonly connections: number;
  /** How many links are subscribed to `channel`. */
  subscribers(channel: string): number;
  /** Whether the hub refuses or stalls new links. */
  readonly state: "up" | "down" | "stalled";
  /** The epoch of the hub's history, in every position it gives out: a restart takes a new one. */
  readonly epoch: string;
  /** Errors every open link and refuses new ones until `restore()`. */
  cut(reason?: string): void;
  /** Open links stop answering without closing; new links hang until `restore()`. */
  stall(): void;
  /** Accepts new links again. */
  restore(): void;
  /**
   * Restarts the hub as a server without persistence: cuts every open link,
   * forgets every channel's history, takes a new epoch (a position from
   * before is then a gap), and accepts links again.
   */
  restart(): void;
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

/** A hub: the channels its links joined, and in history mode what each channel keeps. */
class Hub implements MemoryHub, HubSide {
  state: "up" | "down" | "stalled" = "up";
  readonly links = new Set<MemoryLink>();
  readonly #channels = new Map<string, Set<MemoryLink>>();
  #waiting: (() => void)[] = [];
  /** History mode: what is kept, and each channel's events. */
  #keep: { messages: number; maxAge: number } | undefined;
  readonly #kept = new Map<string, Kept>();
  #epoch = newEpoch();

  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }

  get epoch(): string {
    return this.#epoch;
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

  restart(): void {
    this.cut("the memory hub restarted");
    this.#kept.clear();
    this.#epoch = newEpoch();
    this.restore();
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
    const frame: EventFrame = { type: "event", channel, message, id: atPlace(this.#epoch, String(++kept.last)), ...origin !== undefined && { origin } };
    if (kept.events.push({ frame, at: now }) !== undefined) kept.dropped++;
    return frame;
  }

  /** The channel's last position. */
  position(channel: string): string {
    return atPlace(this.#epoch, String(this.#kept.get(channel)?.last ?? 0));
  }

  /**
   * The kept events of `channel` after `after` (from the oldest when
   * undefined) up to `upTo`, at most `limit`; "gap" when some after `after`
   * are no longer kept, or `after` is from another epoch (before a restart,
   * another hub's).
   */
  history(channel: string, after: string | undefined, upTo: string, limit: number, now: number): EventFrame[] | "gap" {
    if (after !== undefined && !fromLog(after, this.#epoch)) return "gap";
    const place = after === undefined ? undefined : placeOf(after);
    const kept = this.#kept.get(channel);
    if (kept === undefined) return place === undefined || place === "0" ? [] : "gap";
    this.#expire(kept, now);
    if (place !== undefined && !/^\d{1,15}$/.test(place)) return "gap"; // not a position of this hub
    const from = place === undefined ? kept.dropped : Number(place);
    if (from < kept.dropped) return "gap";
    const frames: EventFrame[] = [];
    const first = kept.last - kept.events.length + 1;
    const last = Math.min(Number(placeOf(upTo)), kept.last);
    for (let n = Math.max(from + 1, first); n <= last && frames.length < limit; n++) {
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
