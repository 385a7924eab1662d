/**
 * The Postgres link of the default mode (see `mod.ts`): two sessions, one
 * LISTENing and one publishing each run of a batch as one `pg_notify`
 * statement, and messages of 8000 bytes or more through a table.
 *
 * @module
 */
import type { EventFrame } from "../../lib/contract/frame.ts";
import type { Link } from "../../lib/contract/link.ts";
import { channelName } from "./channel.ts";
import type { LinkOptions } from "./config.ts";
import { isPermanent } from "./errors.ts";
import { Inbound } from "./inbound.ts";
import { needsReference, PayloadStore } from "./large.ts";
import { notify, type Part, partition, storable } from "./publish.ts";
import type { Session } from "./session.ts";
import { SessionPair } from "./sessions.ts";

/** A message the server refused for good, and why. */
interface Dropped {
  frame: EventFrame;
  reason: unknown;
}

/** A link of the default mode: LISTEN/NOTIFY over a pair of sessions. */
export class PostgresLink implements Link {
  readonly readable: ReadableStream<EventFrame[]>;
  readonly writable: WritableStream<EventFrame[]>;
  readonly #dropped: LinkOptions["dropped"];
  readonly #sessions: SessionPair;
  readonly #publisher: Session;
  readonly #payloads: PayloadStore;
  readonly #inbound: Inbound;

  constructor(uri: URL, settings: LinkOptions) {
    this.#dropped = settings.dropped;
    this.#sessions = new SessionPair(uri, {
      applicationName: settings.applicationName,
      onnotify: (channels, payload) => this.#inbound.push(channels, payload),
      onend: (failure) => this.#inbound.end(failure),
    });
    this.#publisher = this.#sessions.publisher;
    this.#payloads = new PayloadStore(this.#publisher.sql, settings.largePayloadTable, settings.largePayloadRetention);
    this.#inbound = new Inbound({
      fetch: (lookups) => this.#publisher.run(this.#payloads.fetch(lookups)),
      dropped: (frame, reason) => this.#dropped(frame, reason, "inbound"),
      fail: (error) => void this.#sessions.lost(error),
      cancel: () => this.close(),
    });
    this.readable = this.#inbound.readable;
    this.writable = new WritableStream({ write: (batch) => this.#publish(batch) });
  }

  /** Connects both sessions; `signal` abandons the attempt. */
  open(signal: AbortSignal): Promise<void> {
    return this.#sessions.open(signal);
  }

  subscribe(channel: string): Promise<void> {
    return this.#sessions.listen(channel);
  }

  unsubscribe(channel: string): Promise<void> {
    return this.#sessions.unlisten(channel);
  }

  ping(): Promise<void> {
    return this.#sessions.ping();
  }

  close(): Promise<void> {
    return this.#sessions.close();
  }

  async #publish(input: EventFrame[]): Promise<void> {
    this.#sessions.check();
    // Reported once the write succeeds: a lost link has the whole batch sent again.
    const dropped: Dropped[] = [];
    const batch = input.every((frame) => storable(frame.message)) ? input : input.filter((frame) => {
      if (storable(frame.message)) return true;
      dropped.push({ frame, reason: new TypeError("Postgres text cannot hold U+0000; the message was not sent") });
    });
    const large = batch.map((frame) => needsReference(frame.message));
    // Nothing is sent before the table exists, so that the order is kept.
    const refused = large.includes(true)
      ? await this.#publisher.run(this.#payloads.ready()).then(() => undefined, (error: unknown) => error)
      : undefined;
    if (refused !== undefined && !isPermanent(refused)) throw this.#sessions.lost(refused);
    this.#sessions.check();
    await this.#sendAll(partition(batch, large), dropped, refused);
    for (const { frame, reason } of dropped) this.#dropped(frame, reason, "outbound");
  }

  /** Sends `parts`; adds to `dropped` what the server refused for good. */
  async #sendAll(parts: Part[], dropped: Dropped[], refused?: unknown): Promise<void> {
    const results = await Promise.allSettled(parts.map((part) => this.#send(part, refused)));
    const again: Part[] = [];
    results.forEach((result, i) => {
      if (result.status === "fulfilled") return;
      if (!isPermanent(result.reason)) throw this.#sessions.lost(result.reason);
      if (parts[i].frames.length === 1) return void dropped.push({ frame: parts[i].frames[0], reason: result.reason });
      // One message the server refuses fails its whole part: find it by sending them one by one.
      for (const frame of parts[i].frames) again.push({ frames: [frame], large: false });
    });
    if (again.length > 0) await this.#sendAll(again, dropped);
  }

  #send(part: Part, refused: unknown): Promise<unknown> {
    if (!part.large) return this.#publisher.run(notify(this.#publisher.sql, part.frames));
    if (refused !== undefined) return Promise.reject(refused);
    const [{ channel, message }] = part.frames;
    return this.#publisher.run(this.#payloads.store(channelName(channel), channel, message));
  }
}
