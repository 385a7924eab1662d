/**
 * The settings of the Postgres backbone, from `BroadcastOptions.backendOptions`
 * (the URI's own parameters are in `rules.ts`), checked once, when a
 * Broadcast builds its connector, and what every link gets from them.
 *
 * @module
 */
import * as v from "valibot";
import { toConfigIssues } from "../../lib/contract/config.ts";
import { ConfigError } from "../../lib/contract/errors.ts";
import type { ConnectorContext } from "../../lib/contract/link.ts";
import { PostgresSettingsSchema } from "./rules.ts";

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

/** The settings with every default filled in. */
export type Settings = Required<PostgresSettings>;

/** What a link needs from its connector. */
export interface LinkOptions extends Settings {
  /** Reports a message the server refused for good, or a notification that cannot be delivered. */
  dropped: ConnectorContext["dropped"];
}

/** Reads `context.settings`; throws `ConfigError` naming each bad one. */
export function linkOptions(context: ConnectorContext): LinkOptions {
  const parsed = v.safeParse(PostgresSettingsSchema, context.settings);
  if (!parsed.success) throw new ConfigError(toConfigIssues(parsed.issues, (path) => `option backendOptions.${path}`));
  return { ...parsed.output, dropped: (frame, reason, direction) => context.dropped(frame, reason, direction) };
}
