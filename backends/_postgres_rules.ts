/**
 * The `postgres://` backbone's rules: postgres.js (the `postgres` package).
 * Any channel works (a long name is mapped, see `_postgres_channel.ts`), and
 * any message a string can hold (a large one goes through a table).
 *
 * @module
 */
import * as v from "valibot";
import type { BackboneRules } from "../lib/backbone_rules.ts";
import { milliseconds, toConfigIssues } from "../lib/options.ts";

/** What `BroadcastOptions.backendOptions` may hold for `postgres://`; see `PostgresSettings`. */
export const PostgresSettingsSchema = v.strictObject({
  applicationName: v.optional(v.pipe(v.string(), v.maxLength(63)), "streamcast"),
  largePayloadTable: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(50)), "streamcast_payloads"),
  largePayloadRetention: v.optional(milliseconds(1_000), 3_600_000),
});

/** The driver to name when it is missing; no channel or size rule; the settings are checked. */
export const postgresRules: BackboneRules = {
  driver: "postgres",
  validate(_url, settings) {
    const parsed = v.safeParse(PostgresSettingsSchema, settings);
    return parsed.success ? [] : toConfigIssues(parsed.issues, (path) => `option backendOptions.${path}`);
  },
};
