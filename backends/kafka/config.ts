/**
 * What a `kafka://` URI and `BroadcastOptions.backendOptions` say, turned into
 * kafkajs's client configuration. Private to `backends/kafka/mod.ts`.
 *
 * @module
 */
import { readCaFile } from "../tls/ca_file.ts";
import type { ConnectionOptions } from "node:tls";
import type { ConsumerConfig, KafkaConfig, SASLOptions } from "kafkajs";
import * as v from "valibot";
import { ConfigError, type ConfigIssue } from "../../lib/contract/errors.ts";
import { maskUri } from "../../lib/util/mask_uri.ts";
import { toConfigIssues } from "../../lib/contract/config.ts";
import { KafkaSettingsSchema as SettingsSchema, MECHANISMS } from "./rules.ts";

/** The Kafka backend's settings with their defaults filled in. */
export type KafkaSettings = v.InferOutput<typeof SettingsSchema>;

/** The client configuration and the settings of one connector's links. */
export interface KafkaOptions {
  client: KafkaConfig;
  settings: KafkaSettings;
}


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

/**
 * A consumer of one link in `groupId`. It never restarts itself: its fetch is
 * the link's long poll, so the first failure crashes it and a lost broker is
 * a lost link at once.
 */
export function consumerConfig(groupId: string, settings: KafkaSettings): ConsumerConfig {
  return {
    groupId,
    maxWaitTimeInMs: settings.maxWaitTime,
    sessionTimeout: settings.sessionTimeout,
    heartbeatInterval: Math.max(100, Math.floor(settings.sessionTimeout / 3)),
    rebalanceTimeout: settings.sessionTimeout,
    allowAutoTopicCreation: false,
    retry: { retries: 0, restartOnFailure: () => Promise.resolve(false) },
  };
}
