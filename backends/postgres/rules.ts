/**
 * The `postgres://` backbone's rules: postgres.js (the `postgres` package).
 * Any channel works (a long name is mapped, see `channel.ts`), and
 * any message a string can hold (a large one goes through a table).
 *
 * The URI takes the query parameters below and no other: postgres.js would
 * send any other to the server as a setting at connection, where a typo
 * (`?histroy=1`) fails every attempt, retried forever; and a driver option
 * (`max`, `connect_timeout`) would be overridden by the session's own. An
 * unknown `sslmode` would mean full verification to postgres.js. User,
 * password and database are percent-decoded, so they must decode.
 *
 * @module
 */
import * as v from "valibot";
import { type BackboneRules, decodes, settingsIssues, type UriProblem } from "../../lib/contract/backbone_rules.ts";
import { milliseconds } from "../../lib/contract/config.ts";

/** What `BroadcastOptions.backendOptions` may hold for `postgres://`; see `PostgresSettings`. */
export const PostgresSettingsSchema = v.strictObject({
  applicationName: v.optional(v.pipe(v.string(), v.maxLength(63)), "streamcast"),
  largePayloadTable: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(50)), "streamcast_payloads"),
  largePayloadRetention: v.optional(milliseconds(1_000), 3_600_000),
  historyTable: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(50)), "streamcast_log"),
});

/** The query parameters a Postgres URI may hold, with the values each takes (any when absent). */
const PARAMETERS: Readonly<Record<string, readonly string[] | undefined>> = {
  application_name: undefined,
  // Server settings at connection: `-c search_path=app -c statement_timeout=5s`.
  options: undefined,
  // verify-ca checks the host name too: postgres.js verifies in full or not at all.
  sslmode: ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
  // postgres.js reads no certificate file: `system` (the system CAs, verify-full) only.
  sslrootcert: ["system"],
};

/** The driver to name when it is missing; the URI's parameters and names; the settings. */
export const postgresRules: BackboneRules = {
  driver: "postgres",
  uri: postgresUriProblems,
  message: {
    test: (message) => !message.includes("\0"),
    rule: "a string without U+0000 (Postgres text cannot hold it)",
    breach: "a string with U+0000",
  },
  settings: (settings) => settingsIssues(PostgresSettingsSchema, settings),
};

function postgresUriProblems(url: URL): UriProblem[] {
  const problems: UriProblem[] = [];
  for (const name of new Set(url.searchParams.keys())) {
    const values = url.searchParams.getAll(name);
    if (!Object.hasOwn(PARAMETERS, name)) {
      const expected = `one of ${Object.keys(PARAMETERS).join(", ")}`;
      problems.push({ part: "parameter", expected, received: JSON.stringify(name) });
    } else if (values.length > 1) {
      problems.push({ part: `parameter ${name}`, expected: "one value", received: `${values.length}` });
    } else if (PARAMETERS[name] && !PARAMETERS[name].includes(values[0])) {
      const allowed = PARAMETERS[name];
      const expected = allowed.length === 1 ? JSON.stringify(allowed[0]) : `one of ${allowed.join(", ")}`;
      problems.push({ part: `parameter ${name}`, expected, received: JSON.stringify(values[0]) });
    }
  }
  const database = url.pathname.slice(1);
  if (!decodes(database)) problems.push({ part: "database", expected: "percent-encoded UTF-8", received: JSON.stringify(database) });
  return problems;
}
