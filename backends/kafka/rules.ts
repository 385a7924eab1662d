/**
 * The `kafka://` backbone's rules: kafkajs, channels that are valid topic
 * names, and the backend's own message limit.
 *
 * @module
 */
import * as v from "valibot";
import { type BackboneRules, settingsIssues, unknownParameters, type UriProblem } from "../../lib/contract/backbone_rules.ts";
import { milliseconds } from "../../lib/contract/config.ts";

/**
 * The default of `backendOptions.maxMessageBytes`: below the broker's default
 * `message.max.bytes` (1 MiB), so that a message is refused at publish rather
 * than accepted and dropped.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_000_000;

const millis = v.pipe(v.number(), v.integer(), milliseconds(1));

/** The Kafka backend's settings (`BroadcastOptions.backendOptions`), every time in milliseconds. */
export const KafkaSettingsSchema = v.strictObject({
  /** Consumer groups are named prefix + a random UUID, one per link. */
  groupIdPrefix: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]*$/, "Expected letters, digits, . _ or -")), "streamcast-"),
  /** kafkajs's client id. */
  clientId: v.optional(v.pipe(v.string(), v.minLength(1)), "streamcast"),
  /** How long the broker may hold a fetch on an idle topic; also bounds how long re-subscribing waits. */
  maxWaitTime: v.optional(millis, 50),
  /** The consumer's session timeout (the broker accepts 6,000 and up by default). */
  sessionTimeout: v.optional(millis, 10_000),
  /** How long one request may take before kafkajs gives up on it. */
  requestTimeout: v.optional(millis, 5_000),
  /** How long opening a TCP connection may take. */
  connectionTimeout: v.optional(millis, 3_000),
  /** kafkajs's own retries of a failed request, kept small: reconnecting is the core's job. */
  retries: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 2),
  /** Partitions and replication of the topics streamcast creates; -1 is the broker's default. */
  numPartitions: v.optional(v.pipe(v.number(), v.integer(), v.minValue(-1)), -1),
  replicationFactor: v.optional(v.pipe(v.number(), v.integer(), v.minValue(-1)), -1),
  /** `tls.connect` options (`ca`, `cert`, `key`, …), merged over the URI's. */
  tls: v.optional(v.record(v.string(), v.unknown())),
  /**
   * The largest message (UTF-8 bytes) sent: `publish` refuses a larger one
   * (`rules.ts`); one the broker refuses as too large anyway
   * (`message.max.bytes`) is dropped and reported to the core rather than
   * retried forever.
   */
  maxMessageBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), DEFAULT_MAX_MESSAGE_BYTES),
  /** kafkajs's log level; it logs to the console. */
  logLevel: v.optional(v.picklist(["nothing", "error", "warn", "info", "debug"]), "nothing"),
});


/** The URI parameters the backend reads (`brokers` holds a host list). */
const PARAMETERS = ["brokers", "tls", "ssl", "ca", "sasl", "user", "username", "password"];

/** The SASL mechanisms kafkajs speaks. */
export const MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const;

/** Unknown parameters, a `tls`/`ssl` that is not a boolean, an unknown `sasl` mechanism. */
function kafkaUriProblems(url: URL): UriProblem[] {
  const problems = unknownParameters(url, PARAMETERS);
  for (const name of ["tls", "ssl"]) {
    const value = url.searchParams.get(name);
    if (value !== null && !/^(true|false|1|0)$/.test(value)) {
      problems.push({ part: `parameter ${name}`, expected: "true, false, 1 or 0", received: JSON.stringify(value) });
    }
  }
  const sasl = url.searchParams.get("sasl")?.toLowerCase();
  if (sasl !== undefined && !(MECHANISMS as readonly string[]).includes(sasl)) {
    problems.push({ part: "parameter sasl", expected: `one of ${MECHANISMS.join(", ")}`, received: JSON.stringify(sasl) });
  }
  return problems;
}

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

/** kafkajs; topic names only; messages up to `backendOptions.maxMessageBytes`. */
export const kafkaRules: BackboneRules = {
  driver: "kafkajs",
  channel: {
    test: (channel) => TOPIC.test(channel) && channel !== "." && channel !== "..",
    rule: "a Kafka topic name: 1 to 249 of A-Z a-z 0-9 . _ - (not . or ..)",
  },
  messageLimit: (settings) =>
    typeof settings.maxMessageBytes === "number" ? settings.maxMessageBytes : DEFAULT_MAX_MESSAGE_BYTES,
  uri: kafkaUriProblems,
  settings: (settings) => settingsIssues(KafkaSettingsSchema, settings),
};
