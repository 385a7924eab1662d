/**
 * The `postgres://` and `postgresql://` backbone: Postgres LISTEN/NOTIFY
 * through postgres.js, with the URI in the usual libpq form (user, password,
 * host, port, database, and the query parameters `_postgres_rules.ts` accepts).
 *
 * A link is two sessions (`_postgres_session.ts`), each a postgres.js
 * instance with one connection: one LISTENs, the other publishes, a run of a
 * batch as one `pg_notify` statement (`_postgres_publish.ts`). Neither may
 * reconnect by itself (`_postgres_socket.ts`): the loss of either errors the
 * link, and the core reconnects and re-LISTENs. The liveness probe asks both
 * sessions for an answer.
 *
 * Channel names longer than 63 bytes are mapped to a stable shorter name
 * (`_postgres_channel.ts`); subscribers still see the name they subscribed
 * to. Messages of 8000 bytes or more go through a table (`_postgres_large.ts`).
 *
 * Settings, from `BroadcastOptions.backendOptions`: see {@linkcode PostgresSettings};
 * they are checked once, when the Broadcast builds its connector, which
 * holds nothing else between links. The core refuses a message with U+0000
 * (the rules in `_postgres_rules.ts`); one that reaches a link anyway, or that
 * the server refuses for good (a character the database encoding cannot
 * hold, no privilege to create the large-message table), is reported to the core through
 * `ConnectorContext.dropped` and its write resolves; so is a notification
 * that cannot be delivered (a forged or stale large-message reference).
 *
 * In history mode (`ConnectorContext.history` set) a link is a
 * `PostgresLogLink` instead (`_postgres_log_link.ts`): every message is a row
 * of a log table (`historyTable`, created on first use; any size, so no
 * large-message table), and the NOTIFY, with an empty payload, only wakes
 * the listeners, which read the table past each channel's position. An
 * event's id is `"<xid>-<seq>"`: the writing transaction's id and a
 * sequence number. A listener reads only rows of transactions older than
 * any still open, so none is skipped whatever the commit order
 * (`_postgres_log.ts`); a writing transaction left open anywhere in the
 * cluster delays delivery until it ends, and never loses a row. Publishers delete
 * what `history.messages` and `history.maxAge` no longer keep.
 *
 * @module
 */
import * as v from "valibot";
import { ConfigError } from "../../lib/contract/errors.ts";
import type { EventFrame } from "../../lib/contract/frame.ts";
import type { Backend, Connector, ConnectorContext, Link } from "../../lib/contract/link.ts";
import { toConfigIssues } from "../../lib/contract/config.ts";
import { PostgresSettingsSchema as SettingsSchema } from "./rules.ts";
import { channelName } from "./channel.ts";
import { isPermanent } from "./errors.ts";
import { Inbound } from "./inbound.ts";
import { needsReference, PayloadStore } from "./large.ts";
import { PostgresLogLink } from "./log_link.ts";
import { notify, type Part, partition, storable } from "./publish.ts";
import type { Session } from "./session.ts";
import { SessionPair } from "./sessions.ts";

/** Settings of the Postgres backbone, given as `BroadcastOptions.backendOptions`. */
export interface PostgresSettings {
  /** `application_name` of streamcast's sessions, as `pg_stat_activity` shows them. @default {"streamcast"} */
  applicationName?: string;
  /** The table for messages of 8000 bytes or more; created on first use. @default {"streamcast_payloads"} */
  largePayloadTable?: string;
  /**
   * How long a stored large message is kept, in milliseconds. A row is written
   * when the message is actually sent (after any replay), so this only has to
   * outlast how far a listener may lag behind the NOTIFY queue. @default {3600000}
   */
  largePayloadRetention?: number;
  /**
   * History mode: the log table (created on first use), and `<historyTable>_swept`
   * beside it, which records per channel the last position deleted. @default {"streamcast_log"}
   */
  historyTable?: string;
}

type Settings = Required<PostgresSettings>;

/** A message the server refused for good, and why. */
interface Dropped {
  frame: EventFrame;
  reason: unknown;
}

/** What a link needs from its connector. */
interface LinkOptions extends Settings {
  /** Reports a message the server refused for good, or a notification that cannot be delivered. */
  dropped: ConnectorContext["dropped"];
}

/** Builds a connector for the Postgres server named by `uri`; throws `ConfigError` for bad settings. */
export const postgresBackend: Backend = (uri, context): Connector => {
  const parsed = v.safeParse(SettingsSchema, context.settings);
  if (!parsed.success) throw new ConfigError(toConfigIssues(parsed.issues, (path) => `option backendOptions.${path}`));
  const options: LinkOptions = {
    ...parsed.output,
    dropped: (frame, reason, direction) => context.dropped(frame, reason, direction),
  };
  const history = context.history;
  return {
    open: async (signal) => {
      const link = history === undefined
        ? new PostgresLink(uri, options)
        : new PostgresLogLink(uri, { ...options, history, clock: context.clock });
      await link.open(signal);
      return link;
    },
  };
};

export default postgresBackend;

class PostgresLink implements Link {
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
