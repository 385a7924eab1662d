/**
 * What a `kafka://` URI and `BroadcastOptions.backendOptions` say, turned into
 * kafkajs's client configuration. Private to `backends/kafka.ts`.
 *
 * @module
 */
import { readCaFile } from "./_ca_file.ts";
import type { ConnectionOptions } from "node:tls";
import type { KafkaConfig, SASLOptions } from "kafkajs";
import * as v from "valibot";
import { ConfigError, type ConfigIssue } from "../lib/errors.ts";
import { maskUri } from "../lib/mask_uri.ts";
import { toConfigIssues } from "../lib/options.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "./_kafka_rules.ts";

const millis = v.pipe(v.number(), v.integer(), v.minValue(1));

/** The Kafka backend's settings (`BroadcastOptions.backendOptions`), every time in milliseconds. */
const SettingsSchema = v.strictObject({
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
   * (`_kafka_rules.ts`); one the broker refuses as too large anyway
   * (`message.max.bytes`) is dropped and reported to the core rather than
   * retried forever.
   */
  maxMessageBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), DEFAULT_MAX_MESSAGE_BYTES),
  /** kafkajs's log level; it logs to the console. */
  logLevel: v.optional(v.picklist(["nothing", "error", "warn", "info", "debug"]), "nothing"),
});

/** The Kafka backend's settings with their defaults filled in. */
export type KafkaSettings = v.InferOutput<typeof SettingsSchema>;

/** The client configuration and the settings of one connector's links. */
export interface KafkaOptions {
  client: KafkaConfig;
  settings: KafkaSettings;
}

const MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const;

/**
 * Reads `kafka://[user:password@]host:port[,host:port…][?sasl=…&user=…&password=…&tls=true&ca=/path]`
 * and the backend settings; throws `ConfigError` naming every problem, the
 * password masked.
 */
export function kafkaOptions(uri: URL, raw: Readonly<Record<string, unknown>>): KafkaOptions {
  const issues: ConfigIssue[] = [];
  const parsed = v.safeParse(SettingsSchema, raw);
  if (!parsed.success) issues.push(...toConfigIssues(parsed.issues, (path) => `option backendOptions.${path}`));
  const tls = parsed.success ? parsed.output.tls as ConnectionOptions | undefined : undefined;
  const params = uri.searchParams;
  const where = JSON.stringify(maskUri(uri));
  const problem = (expected: string, received: string) =>
    issues.push({ path: "URI", expected, received, message: `Invalid URI: Expected ${expected} but received ${received} in ${where}` });

  const brokers = (params.get("brokers") ?? uri.host).split(",").map((broker) => broker.trim()).filter(Boolean)
    .map((broker) => /:\d+$/.test(broker) ? broker : `${broker}:9092`);
  if (brokers.length === 0) problem("at least one host:port", "none");

  const tlsParam = params.get("tls") ?? params.get("ssl");
  if (tlsParam !== null && !/^(true|false|1|0)$/.test(tlsParam)) problem("tls=true or tls=false", JSON.stringify(tlsParam));
  const tlsOn = tlsParam === "true" || tlsParam === "1";
  let ssl: ConnectionOptions | boolean = tlsOn;
  const ca = params.get("ca");
  if (ca !== null || tls) {
    const fromUri: ConnectionOptions = {};
    if (ca !== null) {
      const read = readCaFile(ca);
      if ("ca" in read) fromUri.ca = read.ca;
      else problem("a readable CA file in ca=", read.problem);
    }
    ssl = { ...fromUri, ...tls };
  }

  let sasl: SASLOptions | undefined;
  const username = params.get("user") ?? params.get("username") ?? decodeURIComponent(uri.username);
  const password = params.get("password") ?? decodeURIComponent(uri.password);
  // Credentials without a mechanism mean SASL/PLAIN.
  const mechanism = params.get("sasl")?.toLowerCase() ?? (username ? "plain" : undefined);
  if (mechanism !== undefined) {
    if (!(MECHANISMS as readonly string[]).includes(mechanism)) {
      problem(`sasl= one of ${MECHANISMS.join(", ")}`, JSON.stringify(mechanism));
    } else if (!username) {
      problem(`a user for sasl=${mechanism} (user= or user:password@)`, "none");
    } else {
      sasl = { mechanism: mechanism as (typeof MECHANISMS)[number], username, password } as SASLOptions;
    }
  }

  if (issues.length > 0 || !parsed.success) throw new ConfigError(issues);
  const settings = parsed.output;
  return {
    settings,
    client: {
      clientId: settings.clientId,
      brokers,
      ssl: ssl || undefined,
      sasl,
      connectionTimeout: settings.connectionTimeout,
      requestTimeout: settings.requestTimeout,
      enforceRequestTimeout: true,
      retry: { retries: settings.retries, initialRetryTime: 50, maxRetryTime: 500 },
    },
  };
}
