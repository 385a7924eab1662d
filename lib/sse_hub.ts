/**
 * The SSE clients of one Broadcast, at the cost of the events rather than of
 * the clients: one subscription per channel however many clients want it;
 * each event encoded once, and what one tick brought joined into one chunk
 * that is enqueued, the same bytes, to every client of the channel; one
 * queue per client bounded in bytes; one timer for every client's keep-alive
 * and deadline. Part of the SSE handler (`sse_handler.ts`).
 *
 * @module
 */
import type { Frame, ResyncFrame } from "./frame.ts";
import { KEEP_ALIVE, type SseEncode } from "./sse_encoder_stream.ts";
import type { SseBroadcast } from "./sse_handler.ts";

/** How the hub treats its clients. */
export interface SseHubOptions {
  /** An idle client gets a keep-alive comment after this many ms. */
  keepAlive: number;
  /** A client whose queue overflowed and did not read all it holds within this many ms is cut off. */
  writeTimeout: number;
  /** The bytes a client may have queued; past them it gets a resync event and is closed. */
  maxQueueBytes: number;
  /** After a gap, the clients of a channel are closed at random moments within this many ms. */
  resyncSpread: number;
  /** Encodes each frame, once for all clients. */
  encode: SseEncode;
}

interface Client {
  controller: ReadableStreamDefaultController<Uint8Array>;
  readonly channels: readonly string[];
  /** `open`; `closing`: overflowed, closes once drained (or is cut off at `deadline`); `ended`. */
  state: "open" | "closing" | "ended";
  /** The sweep round of its last write. */
  wrote: number;
  /** Whether it was picked to close after a gap. */
  resyncing: boolean;
  deadline: number;
}

interface Feed {
  readonly channel: string;
  readonly clients: Set<Client>;
  readonly abort: AbortController;
  /** Encoded events of this tick, not yet written. */
  pending: Uint8Array[];
}

const RESYNC_STEPS = 20;

/** The clients of one Broadcast, and one subscription per channel they want. */
export class SseHub {
  readonly #broadcast: SseBroadcast;
  readonly #options: SseHubOptions;
  readonly #feeds = new Map<string, Feed>();
  readonly #clients = new Set<Client>();
  readonly #timer: ReturnType<typeof setInterval>;
  /** Sweep rounds between keep-alives of an idle client. */
  readonly #keepAliveRounds: number;
  #round = 0;
  /** The timers that close clients after a gap, cleared by `close()`. */
  readonly #resyncTimers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
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

  /**
   * A client of `channels`, its stream starting with `first`. Throws what
   * `Broadcast.subscribe` throws for a channel it refuses, before anything is
   * subscribed for the client.
   */
  open(channels: readonly string[], first: Uint8Array): { body: ReadableStream<Uint8Array>; send(bytes: Uint8Array): void } {
    if (this.#closed) throw new Error("The SSE hub is closed");
    const fresh = channels.filter((channel) => !this.#feeds.has(channel));
    const made: [string, Feed][] = [];
    try {
      for (const channel of fresh) made.push([channel, this.#feed(channel)]);
    } catch (error) {
      for (const [, feed] of made) feed.abort.abort();
      throw error;
    }
    for (const [channel, feed] of made) this.#feeds.set(channel, feed);
    const client: Client = { controller: undefined!, channels, state: "open", wrote: this.#round, resyncing: false, deadline: 0 };
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        client.controller = controller;
        controller.enqueue(first);
      },
      // An overflowed client ends once it has read everything it holds, not before.
      pull: (controller) => {
        if (client.state === "closing" && controller.desiredSize === this.#options.maxQueueBytes) this.#end(client);
      },
      cancel: () => this.#end(client),
    }, { highWaterMark: this.#options.maxQueueBytes, size: (chunk) => chunk.byteLength });
    this.#clients.add(client);
    for (const channel of channels) this.#feeds.get(channel)!.clients.add(client);
    return { body, send: (bytes) => this.#write(client, bytes, channels[0]) };
  }

  /** Closes every client (each stream ends; what it holds is still delivered) and every subscription. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const timer of this.#resyncTimers) clearTimeout(timer);
    this.#resyncTimers.clear();
    for (const client of this.#clients) this.#end(client);
  }

  #feed(channel: string): Feed {
    const abort = new AbortController();
    const stream = this.#broadcast.subscribe(channel, { signal: abort.signal });
    const feed: Feed = { channel, clients: new Set(), abort, pending: [] };
    void this.#read(stream, feed);
    return feed;
  }

  async #read(stream: ReadableStream<Frame>, feed: Feed): Promise<void> {
    const reader = stream.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value.type === "resync") {
          this.#flush(feed);
          this.#resync(feed, value);
          continue;
        }
        if (feed.pending.length === 0) setTimeout(() => this.#flush(feed), 0);
        feed.pending.push(this.#options.encode(value));
      }
    } catch {
      // The broadcast closed or gave up: its clients end below.
    }
    this.#flush(feed);
    if (!feed.abort.signal.aborted) for (const client of feed.clients) this.#end(client);
  }

  /** Writes this tick's events of `feed`, joined into one chunk, to each of its clients. */
  #flush(feed: Feed): void {
    if (feed.pending.length === 0) return;
    const chunk = join(feed.pending);
    feed.pending = [];
    for (const client of feed.clients) this.#write(client, chunk, feed.channel);
  }

  #write(client: Client, bytes: Uint8Array, channel: string): void {
    if (client.state !== "open") return;
    client.controller.enqueue(bytes);
    client.wrote = this.#round;
    if ((client.controller.desiredSize ?? 0) >= 0) return;
    // Lagging past its bound: it has missed nothing yet, but would. Tell it to re-fetch, then let it go.
    client.controller.enqueue(this.#options.encode({ type: "resync", channel, reason: "overflow" }));
    client.state = "closing";
    this.#overflowed++;
    client.deadline = Date.now() + this.#options.writeTimeout;
    this.#detach(client);
  }

  /** Closes every client of `feed` once, at a random moment within the spread, after a resync event. */
  #resync(feed: Feed, frame: ResyncFrame): void {
    const last = this.#options.encode(frame);
    const picked = [...feed.clients].filter((client) => !client.resyncing);
    for (const client of picked) client.resyncing = true;
    shuffle(picked);
    const step = Math.ceil(picked.length / RESYNC_STEPS);
    for (let i = 0; i < picked.length; i += step) {
      const batch = picked.slice(i, i + step);
      const timer = unref(setTimeout(() => {
        this.#resyncTimers.delete(timer);
        for (const client of batch) {
          this.#write(client, last, frame.channel);
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
      if (client.state === "closing" && now >= client.deadline) {
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

  /** Takes `client` off its channels; a channel no client wants is unsubscribed. */
  #detach(client: Client): void {
    for (const channel of client.channels) {
      const feed = this.#feeds.get(channel);
      if (feed === undefined || !feed.clients.delete(client) || feed.clients.size > 0) continue;
      this.#flush(feed);
      this.#feeds.delete(channel);
      feed.abort.abort();
    }
  }
}

/** Node: the hub's timers alone must not keep a process alive. */
function unref<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

function join(chunks: Uint8Array[]): Uint8Array {
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
