/**
 * The `postgres://` and `postgresql://` backbone: Postgres LISTEN/NOTIFY
 * through postgres.js, with the URI in the usual libpq form (user, password,
 * host, port, database, and the query parameters `rules.ts` accepts).
 *
 * A link (`notify_link.ts`) is two sessions (`session.ts`), each a postgres.js
 * instance with one connection: one LISTENs, the other publishes, a run of a
 * batch as one `pg_notify` statement (`publish.ts`). Neither may
 * reconnect by itself (`socket.ts`): the loss of either errors the
 * link, and the core reconnects and re-LISTENs. The liveness probe asks both
 * sessions for an answer.
 *
 * Channel names longer than 63 bytes are mapped to a stable shorter name
 * (`channel.ts`); subscribers still see the name they subscribed
 * to. Messages of 8000 bytes or more go through a table (`large.ts`).
 *
 * Settings, from `BroadcastOptions.backendOptions` (`config.ts`): see {@linkcode PostgresSettings};
 * they are checked once, when the Broadcast builds its connector, which
 * holds nothing else between links. The core refuses a message with U+0000
 * (the rules in `rules.ts`); one that reaches a link anyway, or that
 * the server refuses for good (a character the database encoding cannot
 * hold, no privilege to create the large-message table), is reported to the core through
 * `ConnectorContext.dropped` and its write resolves; so is a notification
 * that cannot be delivered (a forged or stale large-message reference).
 *
 * In history mode (`ConnectorContext.history` set) a link is a
 * `PostgresLogLink` instead (`log_link.ts`): every message is a row
 * of a log table (`historyTable`, created on first use; any size, so no
 * large-message table), and the NOTIFY, with an empty payload, only wakes
 * the listeners, which read the table past each channel's position. An
 * event's id is `"<epoch>:<xid>-<seq>"`: the log's epoch (kept in the table,
 * new whenever the table is truncated or made again, so that a position of
 * the old log reads as a gap), the writing transaction's id and a
 * sequence number. A listener reads only rows of transactions older than
 * any still open, so none is skipped whatever the commit order
 * (`log.ts`); a writing transaction left open anywhere in the
 * cluster delays delivery until it ends, and never loses a row. Publishers delete
 * what `history.messages` and `history.maxAge` no longer keep.
 *
 * @module
 */
import type { Backend, Connector } from "../../lib/contract/link.ts";
import { linkOptions } from "./config.ts";
import { PostgresLogLink } from "./log_link.ts";
import { PostgresLink } from "./notify_link.ts";

export type { PostgresSettings } from "./config.ts";

/** Builds a connector for the Postgres server named by `uri`; throws `ConfigError` for bad settings. */
export const postgresBackend: Backend = (uri, context): Connector => {
  const options = linkOptions(context);
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
