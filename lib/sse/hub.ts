/**
 * The SSE clients of one Broadcast, at the cost of the events rather than of
 * the clients. Clients that want the same channels form a *group*: one
 * subscription per channel per group however many clients it has; each
 * event encoded once, and what one tick brought joined into one chunk that
 * is enqueued, the same bytes, to every client of the group; one queue per
 * client bounded in bytes; one timer for every client's keep-alive and
 * deadline. Part of the SSE handler (`handler.ts`).
 *
 * In history mode each event carries an SSE `id:`, the group's *cursor*: the
 * position of each of its channels, joined by commas, so that a reconnecting
 * `EventSource` sends it back as `Last-Event-ID`. A client that comes back
 * with a cursor reads its own subscriptions from there (the Broadcast fills
 * them from the backbone's history) until it stands where its group stands,
 * then joins the group; with no group to join, it founds one at its cursor.
 * Its `ready` event says whether it recovered what it missed, so those
 * subscriptions are read only once it is written: each knows whether it
 * recovered as soon as its history is first read, before it waits for a reader.
 *
 * @module
 */
import type { EventFrame, Frame, Recovery, ResyncFrame } from "../contract/frame.ts";
import { idLine, type Pending, withIds } from "./cursor.ts";
import { KEEP_ALIVE, type SseEncode } from "./encoder_stream.ts";

/** What the handler uses of a Broadcast; a connected `Broadcast` is one. */
export interface SseBroadcast {
  /** `idle`, `connecting`, `up`, `down`, `failed` or `closed`: `failed` and `closed` make the handler answer 503, and `/healthz` answers 503 for `idle` too. */
  readonly state: string;
  /** The backbone URI, its password masked: shown by `/healthz` to a caller with a valid token. */
  readonly uri: string;
  /** Counters, shown by `/healthz`. */
  readonly stats: object;
  /**
   * A stream of the channel's frames until `signal` aborts; in history mode,
   * after `since`, and `recovery` says whether it got everything after it.
   */
  subscribe(channel: string, options: { signal: AbortSignal; since?: string }): ReadableStream<Frame> & { readonly recovery: Promise<Recovery> };
  /** Set in history mode: events carry positions. */
  readonly history?: object;
  /** History mode: where a subscribed channel stands (its last event, or where its subscription started). */
  position?(channel: string): string | undefined;
  /** Publishes a message. */
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once every subscription so far is acknowledged. */
  ready(): Promise<void>;
}

/** How the hub treats its clients. */
export interface SseHubOptions {
  /** An idle client gets a keep-alive comment after this many ms. */
  keepAlive: number;
  /** A client whose queue overflowed and did not read all it holds within this many ms is cut off. */
  writeTimeout: number;
  /**
   * The bytes a client may have queued; past them it gets a resync event and
   * is closed. One event larger than that is queued when nothing else is:
   * the client must take it within `writeTimeout`, and anything sent to it
   * before it did is past the bound.
   */
  maxQueueBytes: number;
  /** After a gap, the clients of a channel are closed at random moments within this many ms. */
  resyncSpread: number;
  /** Encodes each frame, once for all clients. */
  encode: SseEncode;
}

/** What `open` needs besides the channels. */
export interface SseOpen {
  /** The first bytes of the stream. */
  first: Uint8Array;
  /** History mode: the cursor the client comes back with (as `parseCursor` in `cursor.ts` reads one). */
  since?: readonly string[];
  /**
   * The `ready` event, written once the backbone acknowledged the
   * subscriptions; `recovery` (one per channel) when the client came back
   * with `since`: whether each subscription got everything after it.
   */
  ready(recovery: readonly Recovery[] | undefined): Uint8Array;
}

/** What reads channels for clients: a group for all its members, or one client of its own. */
interface Reader {
  readonly channels: readonly string[];
  readonly abort: AbortController;
  /** History mode: each channel's position, as written to the clients. */
  readonly cursor: (string | undefined)[];
  /** Events of this tick, not yet written. */
  pending: Pending[];
}

interface Group extends Reader {
  readonly key: string;
  readonly clients: Set<Client>;
  /** Clients that read on their own until they stand where the group stands. */
  readonly waiting: Set<Client>;
  /**
   * Whether it delivers live events: a group founded by a client that came
   * back still reads history until it stands where the Broadcast stands, and
   * a new client does not join it before.
   */
  live: boolean;
}

interface Client {
  controller: ReadableStreamDefaultController<Uint8Array>;
  readonly group: Group;
  /** Set while the client reads on its own (it came back with a cursor). */
  own: Reader | undefined;
  /**
   * `open` (holding one event larger than the bound when `deadline` is set: it
   * is cut off at the deadline unless it took it); `closing`: overflowed,
   * closes once drained (or is cut off at `deadline`); `ended`.
   */
  state: "open" | "closing" | "ended";
  /** The sweep round of its last write. */
  wrote: number;
  /** Whether it was picked to close after a gap. */
  resyncing: boolean;
  deadline: number;
}

/** A subscription of the Broadcast's. */
type Subscribed = ReturnType<SseBroadcast["subscribe"]>;

const RESYNC_STEPS = 20;

/** The clients of one Broadcast, in groups by the channels they want. */
export class SseHub {
  readonly #broadcast: SseBroadcast;
  readonly #options: SseHubOptions;
  readonly #groups = new Map<string, Group>();
  readonly #clients = new Set<Client>();
  readonly #timer: ReturnType<typeof setInterval>;
  /** Sweep rounds between keep-alives of an idle client. */
  readonly #keepAliveRounds: number;
  #round = 0;
  /** The timers that close clients after a gap, cleared by `close()`. */
  readonly #resyncTimers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  /** Each event's bytes: every group (and client reading on its own) of its channel is handed the same frame. */
  readonly #encoded = new WeakMap<EventFrame, Uint8Array>();
  #overflowed = 0;
  #cutOff = 0;

  /** A hub with no client; its one timer runs until `close()`. */
  constructor(broadcast: SseBroadcast, options: SseHubOptions) {
    this.#broadcast = broadcast;
    this.#options = options;
    const round = Math.max(100, Math.min(options.keepAlive, options.writeTimeout) / 2);
    this.#keepAliveRounds = Math.max(1, Math.round(options.keepAlive / round));
    this.#timer = unref(setInterval(() => this.#sweep(), round));
  }

  /** How many clients are open. */
  get size(): number {
    return this.#clients.size;
  }

  /** How many clients fell `maxQueueBytes` behind (each got a resync and was closed), and how many of those were then cut off, never having drained. */
  get dropped(): { overflowed: number; cutOff: number } {
    return { overflowed: this.#overflowed, cutOff: this.#cutOff };
  }

  /** How many clients that came back with a cursor still read on their own, not yet with their group. */
  get catchingUp(): number {
    let count = 0;
    for (const group of this.#groups.values()) count += group.waiting.size;
    return count;
  }

  /** Whether events carry positions: SSE ids and `Last-Event-ID` resume. */
  get history(): boolean {
    return this.#broadcast.history !== undefined;
  }

  /**
   * A client of `channels`, its stream starting with `first`; in history mode
   * `since` resumes it after what it had. Throws what `Broadcast.subscribe`
   * throws for a channel it refuses, before anything is subscribed for the
   * client. Its `ready` event (with its cursor as its id, in history mode)
   * comes once the backbone acknowledged the subscriptions, and for a client
   * that comes back, once each knows whether it recovered, before anything
   * read after `since`.
   */
  open(channels: readonly string[], { first, since, ready }: SseOpen): ReadableStream<Uint8Array> {
    if (this.#closed) throw new Error("The SSE hub is closed");
    const key = JSON.stringify(channels); // a channel name may hold any character
    let group = this.#groups.get(key);
    let own: Reader | undefined;
    let reader: Reader & { streams: Subscribed[] } | undefined;
    if (group === undefined) {
      // A client that comes back with nobody to join founds its group where it stands.
      group = reader = this.#group(key, channels, since);
    } else if (since !== undefined || !group.live) {
      // It comes back, or its group still reads history: it reads on its own until they meet.
      own = reader = this.#reader(channels, since);
    }
    const client: Client = { controller: undefined!, group, own, state: "open", wrote: this.#round, resyncing: false, deadline: 0 };
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        client.controller = controller;
        controller.enqueue(first);
      },
      // Called once it has room again: an overflowed client ends once it has read everything
      // it holds, not before; one that held an event larger than the bound took it.
      pull: (controller) => {
        if (client.state === "closing" && controller.desiredSize === this.#options.maxQueueBytes) this.#end(client);
        if (client.state === "open") client.deadline = 0;
      },
      cancel: () => this.#end(client),
    }, { highWaterMark: this.#options.maxQueueBytes, size: (chunk) => chunk.byteLength });
    this.#clients.add(client);
    if (own === undefined) group.clients.add(client);
    else group.waiting.add(client);
    // Each subscription of a client that comes back knows whether it recovered once its history
    // is first read, before it waits for the reader: its streams are read after the ready event.
    const recovery = since === undefined ? undefined : Promise.all(reader!.streams.map((stream) => stream.recovery));
    const readied = Promise.all([this.#broadcast.ready(), recovery])
      .then(([, recovered]) => this.#ready(client, ready(recovered)), () => {});
    if (reader !== undefined) this.#readAll(reader, own && client, recovery && readied);
    return body;
  }

  /** Closes every client (each stream ends; what it holds is still delivered) and every subscription. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const timer of this.#resyncTimers) clearTimeout(timer);
    this.#resyncTimers.clear();
    for (const client of this.#clients) this.#end(client);
  }

  /** A group of `channels`, its subscriptions starting after `since` (with what is new when absent); not read yet. */
  #group(key: string, channels: readonly string[], since: readonly string[] | undefined): Group & { streams: Subscribed[] } {
    const group = { key, clients: new Set<Client>(), waiting: new Set<Client>(), live: since === undefined, ...this.#reader(channels, since) };
    this.#groups.set(key, group);
    return group;
  }

  /**
   * Subscribes each of `channels` (after `since`'s position for it); throws,
   * having subscribed nothing that stays, what `Broadcast.subscribe` throws.
   */
  #reader(channels: readonly string[], since: readonly string[] | undefined): Reader & { streams: Subscribed[] } {
    const abort = new AbortController();
    const streams: Subscribed[] = [];
    try {
      channels.forEach((channel, i) => {
        const at = since?.[i] || undefined;
        streams.push(this.#broadcast.subscribe(channel, { signal: abort.signal, ...at && { since: at } }));
      });
    } catch (error) {
      abort.abort();
      throw error;
    }
    return { channels, abort, cursor: channels.map((_, i) => since?.[i] || undefined), pending: [], streams };
  }

  /** Reads each of `reader`'s streams, once `after` settles when given; `client` when it reads for one client of its own. */
  #readAll(reader: Reader & { streams?: Subscribed[] }, client?: Client, after?: Promise<void>): void {
    const streams = reader.streams ?? [];
    delete reader.streams;
    streams.forEach((stream, index) => void this.#read(stream, index, reader, client, after));
  }

  async #read(stream: ReadableStream<Frame>, index: number, reader: Reader, own?: Client, after?: Promise<void>): Promise<void> {
    const source = stream.getReader();
    try {
      await after;
      for (;;) {
        const { done, value } = await source.read();
        if (done) break;
        if (value.type === "resync") {
          this.#flush(reader, own);
          this.#resync(reader, index, value, own);
          continue;
        }
        if (reader.pending.length === 0) setTimeout(() => this.#flush(reader, own), 0);
        reader.pending.push({ index, frame: value, bytes: this.#encode(value) });
      }
    } catch {
      // The broadcast closed or gave up: the clients end below.
    }
    this.#flush(reader, own);
    if (reader.abort.signal.aborted) return;
    if (own) this.#end(own);
    else for (const client of [...(reader as Group).clients, ...(reader as Group).waiting]) this.#end(client);
  }

  /** Encodes `frame` once, however many groups want it. */
  #encode(frame: EventFrame): Uint8Array {
    let bytes = this.#encoded.get(frame);
    if (bytes === undefined) this.#encoded.set(frame, bytes = this.#options.encode(frame));
    return bytes;
  }

  /** Writes this tick's events of `reader`, joined into one chunk, to its clients: a group's members, or its one client. */
  #flush(reader: Reader, own?: Client): void {
    if (reader.pending.length === 0) return;
    const chunk = join(withIds(reader.pending, reader.cursor));
    reader.pending = [];
    if (own) {
      this.#write(own, chunk);
      this.#join(own);
      return;
    }
    const group = reader as Group;
    for (const client of group.clients) this.#write(client, chunk);
    group.live ||= group.channels.every((channel, i) => group.cursor[i] === this.#broadcast.position?.(channel));
    for (const client of group.waiting) this.#join(client);
  }

  /** A client reading on its own joins its group once both stand at the same positions. */
  #join(client: Client): void {
    const { own, group } = client;
    if (own === undefined || client.state !== "open" || own.pending.length > 0 || group.pending.length > 0) return;
    if (!group.cursor.every((position, i) => position !== undefined && position === own.cursor[i])) return;
    own.abort.abort();
    client.own = undefined;
    group.waiting.delete(client);
    group.clients.add(client);
  }

  /** Writes the `ready` event, its id the cursor where the client stands (a channel without events at its start position). */
  #ready(client: Client, event: Uint8Array): void {
    const reader = client.own ?? client.group;
    if (this.history) {
      reader.channels.forEach((channel, i) => reader.cursor[i] ??= this.#broadcast.position?.(channel));
      this.#write(client, join([idLine(reader.cursor), event]));
    } else {
      this.#write(client, event);
    }
    this.#join(client);
  }

  #write(client: Client, bytes: Uint8Array): void {
    if (client.state !== "open") return;
    const empty = client.controller.desiredSize === this.#options.maxQueueBytes;
    client.controller.enqueue(bytes);
    client.wrote = this.#round;
    if ((client.controller.desiredSize ?? 0) >= 0) return;
    if (empty) {
      // One event larger than the bound, and nothing else held: a client that reads takes it.
      client.deadline = Date.now() + this.#options.writeTimeout;
      return;
    }
    // Lagging past its bound: it has missed nothing yet, but would. Tell it to re-fetch, then let it go;
    // in history mode it comes back with the id of the last event it read, and misses nothing.
    const channel = client.group.channels[0];
    if (!this.history) client.controller.enqueue(this.#options.encode({ type: "resync", channel, reason: "overflow" }));
    client.state = "closing";
    this.#overflowed++;
    client.deadline = Date.now() + this.#options.writeTimeout;
    this.#detach(client);
  }

  /**
   * After a gap on one of `reader`'s channels, closes each of its clients
   * once, at a random moment within the spread, after a resync event. In
   * history mode the event's id leaves that channel's position out: a
   * client that comes back starts it with what is new, not at the gap again.
   */
  #resync(reader: Reader, index: number, frame: ResyncFrame, own?: Client): void {
    let last = this.#options.encode(frame);
    if (this.history) {
      last = join([idLine(reader.cursor.map((position, i) => i === index ? undefined : position)), last]);
    }
    // A client still reading on its own has its own gaps: the group's is not one of them.
    const clients = own ? [own] : [...(reader as Group).clients];
    const picked = clients.filter((client) => !client.resyncing);
    for (const client of picked) client.resyncing = true;
    shuffle(picked);
    const step = Math.max(1, Math.ceil(picked.length / RESYNC_STEPS));
    for (let i = 0; i < picked.length; i += step) {
      const batch = picked.slice(i, i + step);
      const timer = unref(setTimeout(() => {
        this.#resyncTimers.delete(timer);
        for (const client of batch) {
          this.#write(client, last);
          this.#end(client);
        }
      }, (i / picked.length) * this.#options.resyncSpread));
      this.#resyncTimers.add(timer);
    }
  }

  /** Keep-alives for idle clients; cuts off a client that overflowed and did not drain in time. */
  #sweep(): void {
    const now = Date.now();
    const round = ++this.#round;
    for (const client of this.#clients) {
      if (client.state !== "ended" && client.deadline > 0 && now >= client.deadline) {
        if (client.state === "open") this.#overflowed++; // it never took the large event it held
        client.state = "ended";
        this.#cutOff++;
        this.#clients.delete(client);
        client.controller.error(new Error("The SSE client did not read what it was sent in time"));
      } else if (client.state === "open" && round - client.wrote >= this.#keepAliveRounds) {
        client.controller.enqueue(KEEP_ALIVE);
        client.wrote = round;
      }
    }
  }

  /** Ends `client`'s stream after what it holds. */
  #end(client: Client): void {
    if (client.state === "ended") return;
    client.state = "ended";
    this.#clients.delete(client);
    this.#detach(client);
    try {
      client.controller.close();
    } catch {
      // Cancelled by its reader: nothing left to close.
    }
  }

  /** Takes `client` off its group and ends its own subscriptions; a group with no client left is unsubscribed. */
  #detach(client: Client): void {
    const { group } = client;
    client.own?.abort.abort();
    group.waiting.delete(client);
    if (!group.clients.delete(client) && client.own === undefined) return;
    client.own = undefined;
    if (group.clients.size > 0 || group.waiting.size > 0 || this.#groups.get(group.key) !== group) return;
    this.#flush(group);
    this.#groups.delete(group.key);
    group.abort.abort();
  }
}

/** Node: the hub's timers alone must not keep a process alive. */
function unref<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/** The chunks as one. */
export function join(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let size = 0;
  for (const chunk of chunks) size += chunk.byteLength;
  const joined = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    joined.set(chunk, at);
    at += chunk.byteLength;
  }
  return joined;
}

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}
