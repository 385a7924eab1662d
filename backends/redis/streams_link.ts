/**
 * History mode on the Redis backbone: one Redis stream per channel, keyed by
 * the channel's name, each entry holding the payload in its field `message`.
 * A publish is an entry `message <payload> origin <origin> prev <ID before it>`, added with
 * `XADD <channel> MAXLEN ~ <messages>` by a script that adds a publish sent
 * again only once (`stream_writes.ts`); with an age limit, also an
 * `XTRIM <channel> MINID ~ <now - maxAge>` about once a second per channel.
 * An event's `id` is its stream ID after the epoch of the stream's log
 * (`<epoch>:<stream ID>`), kept in the key `epochKey(channel)` and set by that
 * script with the entry that makes the stream. The `origin` field,
 * `<publisher>:<sequence>`, also lets the core drop a copy it meets anyway;
 * an entry without it (say from `redis-cli XADD news '*' message hi`) is an
 * event all the same.
 *
 * A link is two connections: a reader (`<clientName>:read`) running the
 * `XREAD` loop of {@linkcode StreamReader}, and a writer (`<clientName>:write`)
 * for everything else. As in pub/sub mode the client never reconnects by
 * itself and every loss errors the link: its life is a {@linkcode LinkLife}.
 *
 * Events after a position are gone when that position is of another epoch
 * than the stream's (the stream was deleted and made again, or lost with a
 * server restarted without persistence), before the stream's
 * `max-deleted-entry-id` (Redis 7; `XDEL` moves it), before the entry before
 * the oldest kept (trimming moves that; the oldest kept names it in `prev`),
 * or when the stream itself is gone; see `lostAfter`. A position without an
 * epoch (issued before epochs, or in a stream that had none) is read as a
 * place in whatever stream is there. A stream that does not exist has no
 * epoch: its position is `0-0`, and the reader learns the epoch once entries
 * come (`stream_reader.ts`).
 *
 * @module
 */
import { RESP_TYPES } from "redis";
import { type EventFrame, type Frame, resyncFrame } from "../../lib/contract/frame.ts";
import type { ConnectorContext, HistoryOptions, Link, Start } from "../../lib/contract/link.ts";
import { atPlace } from "../../lib/contract/position.ts";
import { maskUri } from "../../lib/util/mask_uri.ts";
import { connectLink, redisClient, redisConfig, reportRefused } from "./config.ts";
import { LinkLife } from "./link_life.ts";
import { AgeTrims, appends } from "./stream_writes.ts";
import { StreamReader } from "./stream_reader.ts";
import { gapAfter, oldestPosition, readRange, readWithInfo, startingPlace, streamInfo, streamsOf } from "./stream_replies.ts";

/** How long one XREAD blocks: the reader is unblocked sooner whenever it must answer. */
const BLOCK = 5_000;
/** The most entries per stream one XREAD takes. */
const MAX_COUNT = 1_000;

/** Opens one history-mode link, resolving once Redis acknowledged both connections. */
export async function openStreamsLink(uri: URL, context: ConnectorContext, history: HistoryOptions, signal: AbortSignal): Promise<Link> {
  const config = await redisConfig(uri, context.settings);
  const where = maskUri(uri);
  const reader = connection(redisClient({ ...config.client, name: `${config.name}:read` }));
  const writer = connection(redisClient({ ...config.client, name: `${config.name}:write` }));
  const link = new StreamsLink(where, reader, writer, context, history);
  await connectLink(link, [
    () => Promise.all([reader.client.connect(), writer.client.connect()]),
    async () => {
      const id = String(await reader.send(["CLIENT", "ID"]));
      // The reader is interrupted with CLIENT UNBLOCK: an ACL without it is refused now (NOPERM), not a link that flaps.
      await writer.send(["CLIENT", "UNBLOCK", id]);
      link.start(id);
    },
  ], signal, where, config.client.database);
  return link;
}

/** The part of a node-redis client this mode uses. */
export interface Client {
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: "error" | "reconnecting", listener: (error?: unknown) => void): unknown;
  withTypeMapping(mapping: Record<number, unknown>): { sendCommand(args: string[]): Promise<unknown> };
}

/** A client, and its commands with RESP3 maps read as flat arrays, as RESP2 gives them. */
export interface Connection {
  client: Client;
  send(args: string[]): Promise<unknown>;
}

export function connection(created: unknown): Connection {
  const client = created as Client;
  const mapped = client.withTypeMapping({ [RESP_TYPES.MAP]: Array });
  return { client, send: (args) => mapped.sendCommand(args) };
}

/** What a {@linkcode StreamReader} of a link reads with and hands its frames to. */
export interface StreamReaderParts {
  /** The reader's own connection, and its `CLIENT ID`. */
  read(args: string[]): Promise<unknown>;
  id: string;
  /** Another connection to the same server, for everything else. */
  write(args: string[]): Promise<unknown>;
  history: HistoryOptions;
  context: ConnectorContext;
  deliver(frames: Frame[]): void;
}

/** The XREAD loop of a reader connection, interrupted and checked through the writer. */
export function streamReader({ read, id, write, history, context, deliver }: StreamReaderParts): StreamReader {
  const count = Math.min(MAX_COUNT, history.messages);
  return new StreamReader({
    send: read,
    unblock: async () => Number(await write(["CLIENT", "UNBLOCK", id])) === 1,
    reread: async (channel, place, trimmedOnly) => {
      // Nothing after the place deleted even now: nothing was when it read, and the reply stands.
      if (trimmedOnly && !gapAfter(place, await streamInfo(write, channel))) return undefined;
      const command = ["XREAD", "COUNT", String(count), "STREAMS", channel, place];
      const { reply, info, epoch } = await readWithInfo(write, channel, command);
      return { gap: gapAfter(place, info), entries: streamsOf(reply)[0]?.[1] ?? [], epoch, oldest: oldestPosition(info) };
    },
    deliver,
    dropped: (frame, reason) => context.dropped(frame, reason, "inbound"),
    count,
    block: BLOCK,
    maxAge: history.maxAge,
    clock: context.clock,
  });
}

class StreamsLink implements Link {
  readonly readable: ReadableStream<Frame[]>;
  readonly writable: WritableStream<EventFrame[]>;
  /** Rejects with the original cause when either connection is lost or errors. */
  readonly lost: Promise<never>;
  readonly #reader: Connection;
  readonly #writer: Connection;
  readonly #context: ConnectorContext;
  readonly #history: HistoryOptions;
  readonly #life: LinkLife<Frame[]>;
  #stream: StreamReader | undefined;
  readonly #trims: AgeTrims;

  constructor(where: string, reader: Connection, writer: Connection, context: ConnectorContext, history: HistoryOptions) {
    this.#reader = reader;
    this.#writer = writer;
    this.#context = context;
    this.#history = history;
    this.#trims = new AgeTrims(history.maxAge);
    this.#life = new LinkLife<Frame[]>({
      where,
      clients: [["reader", reader.client], ["writer", writer.client]],
      ending: (error) => this.#stream?.stop(error),
    });
    this.readable = this.#life.readable;
    this.lost = this.#life.lost;
    this.writable = new WritableStream({ write: (batch) => this.#publish(batch) });
  }

  /** Starts the XREAD loop on the reader connection, whose `CLIENT ID` is `id`. */
  start(id: string): void {
    this.#stream = streamReader({
      read: this.#reader.send,
      write: this.#writer.send,
      id,
      history: this.#history,
      context: this.#context,
      deliver: (frames) => this.#life.enqueue(frames),
    });
    this.#stream.run().catch((error) => this.#life.lose("reader", error));
  }

  async subscribe(channel: string, start: Start = "new"): Promise<string> {
    this.#life.check();
    const state = await this.#life.guard(readWithInfo(this.#writer.send, channel));
    const { place, gap } = startingPlace(start, state);
    if (gap) this.#life.enqueue([resyncFrame(channel, "gap")]);
    this.#life.check();
    const position = atPlace(state.epoch, place);
    this.#stream!.follow(channel, position);
    return position;
  }

  read(channel: string, after: string | undefined, upTo: string, limit: number): Promise<EventFrame[] | "gap"> {
    this.#life.check();
    const dropped = (frame: EventFrame, reason: unknown) => this.#context.dropped(frame, reason, "inbound");
    return this.#life.guard(readRange(this.#writer.send, channel, { after, upTo, limit }, dropped));
  }

  unsubscribe(channel: string): Promise<void> {
    this.#life.check();
    this.#stream!.forget(channel);
    return Promise.resolve();
  }

  async ping(): Promise<void> {
    this.#life.check();
    // The reader sits in a blocked XREAD: its round is unblocking it and hearing back.
    await this.#life.guard(Promise.all([this.#writer.send(["PING"]), this.#stream!.round()]));
  }

  close(): Promise<void> {
    return this.#life.close();
  }

  #publish(batch: EventFrame[]): Promise<void> {
    this.#life.check();
    const { messages } = this.#history;
    const send = this.#writer.send;
    const now = this.#context.clock.now();
    // Fired together, the commands go out in one pipelined write; each frame settles with its command.
    const sent: Promise<unknown>[] = new Array(batch.length);
    for (const { command, frames } of appends(batch, messages)) {
      const added = send(command);
      for (const i of frames) sent[i] = added;
    }
    for (const command of this.#trims.due(batch, now)) {
      // A refusal shows on the append to the same key; a loss fails the link.
      send(command).catch(() => {});
    }
    return Promise.all(sent).then(
      () => {},
      (error) => reportRefused(batch, sent, error, () => this.#life.error, (frame, reason) => this.#context.dropped(frame, reason, "outbound")),
    );
  }
}
